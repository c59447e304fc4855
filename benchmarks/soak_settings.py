"""Django settings for soak.py and its worker processes: the database
(``SOAK_DB``: a SQLite path or a postgresql:// URL), the fault-injecting
endpoint (``SOAK_ENDPOINT``), and the engine (``SOAK_ENGINE``: ``db`` for
django-tasks-db, ``rq`` for django-tasks-rq on ``SOAK_REDIS_URL``)."""

import os

from sesbench import config as _bench

SECRET_KEY = "soak-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
globals().update(_bench.queued_apps(
    os.environ["SOAK_REDIS_URL"] if os.environ.get("SOAK_ENGINE") == "rq" else None
))
DATABASES = {"default": _bench.worker_database_settings(os.environ["SOAK_DB"])}

SES_QUERY = {
    "ACCESS_KEY_ID": _bench.ACCESS_KEY_ID,
    "SECRET_ACCESS_KEY": _bench.SECRET_ACCESS_KEY,
    "ENDPOINT_URL": os.environ.get("SOAK_ENDPOINT", "http://127.0.0.1:9/"),
    "MAX_CONCURRENCY": 8,
    "MAX_RETRIES": 3,
    "TIMEOUT": 1.0,
    "LOG_COMMIT_SECONDS": 0.2,
}
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "root": {"handlers": [], "level": "CRITICAL"}}
