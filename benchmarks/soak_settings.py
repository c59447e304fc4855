"""Django settings for soak.py and its worker processes: the database
(``SOAK_DB``: a SQLite path or a postgresql:// URL), the fault-injecting
endpoint (``SOAK_ENDPOINT``), and the engine (``SOAK_ENGINE``: ``db`` for
django-tasks-db, ``rq`` for django-tasks-rq on ``SOAK_REDIS_URL``)."""

import os

import django

from sesbench import config as _bench

SECRET_KEY = "soak-only"
USE_TZ = True
_tasks = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    *([_tasks] if django.VERSION < (6, 0) else []),
    "django_tasks_db",
    "django_ses_query",
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if os.environ.get("SOAK_ENGINE") == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    RQ_QUEUES = {"default": {"URL": os.environ["SOAK_REDIS_URL"]}}
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

_db = os.environ["SOAK_DB"]
DATABASES = {"default": _bench.database_settings(_db)}
if not _bench.is_postgres(_db):
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 60,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }

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
