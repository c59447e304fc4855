"""Django settings for bench_queued.py (and its worker processes): SQLite
file or PostgreSQL (``BENCH_DB``: a path or a postgresql:// URL), the SES
endpoint at ``BENCH_ENDPOINT``, django-tasks-db as the "default" task backend.

The credentials and the database URL's parsing are bench.py's
(``sesbench.config``; benchmarks/ is on the path of every process)."""

import os

from sesbench import config as _bench

SECRET_KEY = "benchmark-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# django-tasks-db, or RQ (django-tasks-rq) with BENCH_REDIS_URL, as the "default" task backend.
globals().update(_bench.queued_apps(os.environ.get("BENCH_REDIS_URL")))
# Workers keep their connection (close_old_connections() runs between tasks),
# unless BENCH_CONN_MAX_AGE says otherwise (Django's default is 0).
_age = os.environ.get("BENCH_CONN_MAX_AGE", "none")
CONN_MAX_AGE = None if _age == "none" else int(_age)
DATABASES = {"default": _bench.worker_database_settings(os.environ["BENCH_DB"])}

SES_QUERY = {
    "ACCESS_KEY_ID": _bench.ACCESS_KEY_ID,
    "SECRET_ACCESS_KEY": _bench.SECRET_ACCESS_KEY,
    "ENDPOINT_URL": os.environ.get("BENCH_ENDPOINT", "http://127.0.0.1:9/"),
    "MAX_RETRIES": 0,
    "MAX_CONCURRENCY": int(os.environ.get("BENCH_MAX_CONCURRENCY", "1")),
    "TASK_CHUNK_SIZE": int(os.environ["BENCH_TASK_CHUNK_SIZE"]) if os.environ.get("BENCH_TASK_CHUNK_SIZE") else None,
}
EMAIL_BACKEND = os.environ.get("BENCH_EMAIL_BACKEND", "django_ses_query.backend.QueuedEmailBackend")
