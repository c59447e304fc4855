"""Settings of the worker processes that tests/test_queued_workers.py starts:
the test settings, on the test's database (``SESQ_TEST_DB_NAME``), with the
test's ``SES_QUERY`` (``SESQ_TEST_SES_QUERY``, JSON)."""

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["SESQ_TEST_DB_NAME"]
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes on one SQLite file: WAL, write transactions that
    # take the lock at BEGIN, and waits instead of "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 60,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
else:
    # PostgreSQL: commits without waiting for the WAL flush (visibility is
    # unchanged, only crash durability), so a shared disk does not set the pace.
    DATABASES["default"]["OPTIONS"] = {"options": "-c synchronous_commit=off"}
SES_QUERY = json.loads(os.environ["SESQ_TEST_SES_QUERY"])
# Keep the connection between tasks (db_worker calls close_old_connections()).
CONN_MAX_AGE = None

try:
    from tests.settings import REDIS_CACHE
except ImportError:  # No django-tasks-rq.
    pass
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "redis": REDIS_CACHE}
