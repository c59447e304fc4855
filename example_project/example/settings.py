"""Settings for the example project: SQLite, the admin, and the SES backend.

``demo.sh`` starts a local SES (moto's server) and passes where it is and the
key it issued through these environment variables:

* ``SES_DEMO_ENDPOINT_URL`` -- e.g. ``http://127.0.0.1:45123``
* ``SES_DEMO_ACCESS_KEY_ID`` / ``SES_DEMO_SECRET_ACCESS_KEY``
* ``SES_DEMO_REGION`` (default ``us-east-1``)
* ``SES_DEMO_TOPIC_ARN`` / ``SES_DEMO_QUEUE_URL`` -- the SNS topic and SQS
  queue for SES events

Without them the backend falls back to its own defaults: the real SES endpoint
for the region, and the credentials chain (the ``AWS_*`` environment
variables, an AWS profile, a role: see the README's "Credentials and region").
"""

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent

# A local demo: not a secret, never used anywhere else.
SECRET_KEY = "example-project-local-demo-only"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Queued sending: the tasks framework (the django-tasks backport before
    # Django 6.0) and its database backend, whose worker is `manage.py db_worker`.
    *(["django_tasks"] if django.VERSION < (6, 0) else []),
    "django_tasks_db",
    "django_ses_query",
]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example.urls"
WSGI_APPLICATION = "example.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SES_DEMO_DATABASE") or BASE_DIR / "db.sqlite3",
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"

# Email: every message goes through Amazon SES's Query API.
DEFAULT_FROM_EMAIL = "Demo <demo@example.com>"
SERVER_EMAIL = "demo@example.com"

_BACKEND = "django_ses_query.backend.EmailBackend"
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": _BACKEND}}
else:
    EMAIL_BACKEND = _BACKEND

SES_QUERY = {
    "REGION": os.environ.get("SES_DEMO_REGION") or "us-east-1",
    # Keep the bodies in the send log, so the admin shows them.
    "LOG_BODY": True,
}
if os.environ.get("SES_DEMO_ENDPOINT_URL"):
    SES_QUERY["ENDPOINT_URL"] = os.environ["SES_DEMO_ENDPOINT_URL"]
if os.environ.get("SES_DEMO_ACCESS_KEY_ID"):
    SES_QUERY["ACCESS_KEY_ID"] = os.environ["SES_DEMO_ACCESS_KEY_ID"]
    SES_QUERY["SECRET_ACCESS_KEY"] = os.environ.get("SES_DEMO_SECRET_ACCESS_KEY", "")

# SES events (demo.sh creates the topic and the queue in moto): the poller
# reads the queue; the webhook is at /ses/events/.
if os.environ.get("SES_DEMO_TOPIC_ARN"):
    SES_QUERY["EVENT_TOPIC_ARNS"] = [os.environ["SES_DEMO_TOPIC_ARN"]]
if os.environ.get("SES_DEMO_QUEUE_URL"):
    SES_QUERY["EVENT_QUEUE_URL"] = os.environ["SES_DEMO_QUEUE_URL"]
# Addresses that hard-bounced or complained are not mailed again.
SES_QUERY["SUPPRESSION"] = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "[%(name)s] %(levelname)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "django_ses_query": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
