"""Settings for the test suite.

SQLite by default (two files: ``default`` and ``sendlog``, so the send log
can be written through its own connection). With
``SES_QUERY_TEST_POSTGRES=postgresql://user:password@host:port/dbname`` the
same tests run on PostgreSQL (``sendlog`` is a second alias to the same
database).
"""

import os
import tempfile
from urllib.parse import urlsplit

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_ses_query",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
STATIC_URL = "/static/"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

_postgres = os.environ.get("SES_QUERY_TEST_POSTGRES")
if _postgres:
    _url = urlsplit(_postgres)
    _pg = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _url.path.lstrip("/") or "postgres",
        "USER": _url.username or "",
        "PASSWORD": _url.password or "",
        "HOST": _url.hostname or "",
        "PORT": str(_url.port or ""),
    }
    DATABASES = {
        "default": {**_pg},
        # A second connection to the same database: the send log survives a
        # rollback of the caller's transaction.
        "sendlog": {**_pg, "TEST": {"MIRROR": None, "NAME": None}},
    }
    # The test database for "sendlog" must be the same one as "default".
    DATABASES["sendlog"]["TEST"] = {"MIRROR": "default"}
else:
    _dir = tempfile.mkdtemp(prefix="django-ses-query-tests-")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(_dir, "default.sqlite3"),
            "TEST": {"NAME": os.path.join(_dir, "test-default.sqlite3")},
        },
        "sendlog": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(_dir, "sendlog.sqlite3"),
            "TEST": {"NAME": os.path.join(_dir, "test-sendlog.sqlite3")},
        },
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SES_QUERY = {
    "ACCESS_KEY_ID": "AKIDEXAMPLE",
    "SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "ENDPOINT_URL": "http://127.0.0.1:9/",
    "MAX_RETRIES": 0,
}

# Queued sending: Django's tasks framework (the django-tasks backport before
# Django 6.0), immediate by default; "db" is django-tasks-db, whose worker
# processes tests/test_queued_workers.py starts.
import django  # noqa: E402

_tasks = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
INSTALLED_APPS += [*([_tasks] if django.VERSION < (6, 0) else []), "django_tasks_db"]
TASKS = {
    "default": {"BACKEND": f"{_tasks}.backends.immediate.ImmediateBackend"},
    "db": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "mail"]},
}

# RQ on Redis (django-tasks-rq), when installed: tests/test_queued_rq.py
# starts a redis-server on this port (a free one, chosen once and passed to
# the worker processes in the environment). Queue "down" is a port where
# nothing listens: Redis down at commit.
try:
    import django_tasks_rq  # noqa: F401
except ImportError:
    pass
else:
    if not os.environ.get("SESQ_TEST_REDIS_PORT"):
        import socket

        with socket.socket() as _socket:
            _socket.bind(("127.0.0.1", 0))
            os.environ["SESQ_TEST_REDIS_PORT"] = str(_socket.getsockname()[1])
    REDIS_URL = f"redis://127.0.0.1:{os.environ['SESQ_TEST_REDIS_PORT']}"
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    RQ_QUEUES = {
        "default": {"URL": f"{REDIS_URL}/1"},
        "down": {"URL": "redis://127.0.0.1:9/1", "SOCKET_CONNECT_TIMEOUT": 1},
    }
    TASKS["rq"] = {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default", "down"]}
    # The shared rate limit's cache: set as CACHES["redis"] by the tests that
    # use it and in the worker processes (CACHES stays unset otherwise).
    REDIS_CACHE = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"{REDIS_URL}/2"}
