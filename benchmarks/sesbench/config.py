"""What every part of the benchmark agrees on: the backends compared, the
fake credentials, the message sent, the targets and the run sizes.

Imported by the child processes too: standard library only, nothing heavy.
"""

from __future__ import annotations

import os

#: benchmarks/ (this package's parent) and the repository root.
BENCHMARKS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCHMARKS_DIR)
#: The script that child processes run (``bench.py _worker SPEC``, ...).
ENTRY_SCRIPT = os.path.join(BENCHMARKS_DIR, "bench.py")

OURS = "ours"
THEIRS = "django-ses"
ANYMAIL = "anymail"
LOCMEM = "locmem"
BACKENDS = {
    OURS: "django_ses_query.backend.EmailBackend",
    THEIRS: "django_ses.SESBackend",
    ANYMAIL: "anymail.backends.amazon_ses.EmailBackend",
    LOCMEM: "django.core.mail.backends.locmem.EmailBackend",
}
#: The peers, each with its own way of calling SES: django-ses (boto3, SES
#: v1 SendRawEmail) and django-anymail (boto3, SES v2 SendEmail).
PEERS = (THEIRS, ANYMAIL)
#: What each backend's send looks like at the endpoint.
SEND_ACTION = {OURS: "SendEmail", THEIRS: "SendRawEmail", ANYMAIL: "SendEmailV2"}
#: Stored-template bulk sends (``--only templates``): ours (SES v1) and
#: anymail's (SES v2 SendBulkEmail), 50 destinations per request.
BULK_ACTION = {OURS: "SendBulkTemplatedEmail", ANYMAIL: "SendBulkEmailV2"}
SEND_ACTIONS = (*SEND_ACTION.values(), *BULK_ACTION.values())
#: The send-log database of a worker: a file (the default), in memory, or
#: PostgreSQL (``--postgres URL``).
MEMORY_DB = ":memory:"
ACCESS_KEY_ID = "AKIDBENCHMARKEXAMPLE"
SECRET_ACCESS_KEY = "bench/secret/not-a-real-key/EXAMPLEKEY0000"
REGION = "us-east-1"

SUBJECT = "Your order #{i} has shipped"
HTML = (
    "<html><body><p>Hello,</p><p>Your order has shipped and should arrive within three "
    "working days. You can follow the parcel from <a href=\"https://shop.example.com/account\">"
    "your account page</a> at any time.</p>"
    + "<p>Thank you for shopping with us.</p>" * 6
    + "<p>-- <br>The Example Shop team</p></body></html>"
)
BODY = (
    "Hello,\n\n"
    "Your order has shipped and should arrive within three working days. "
    "You can follow the parcel from your account page at any time.\n\n"
    + "Thank you for shopping with us. " * 12
    + "\n\n-- \nThe Example Shop team\n"
)
FROM_EMAIL = "Example Shop <shop@example.com>"
TO_EMAIL = "customer{i}@example.org"
CC_EMAIL = "Order desk <orders@example.com>"
REPLY_TO = "Example Shop support <support@example.com>"

#: Targets (see the package docstring).
TARGET_CPU_LOG_MEMORY = 0.7e-3  # s of CPU per message, log on (in-memory SQLite)
TARGET_CPU_LOG_OFF = 0.4e-3  # s of CPU per message, LOG=False
TARGET_RATE_32 = 1000.0  # msg/s at 20 ms RTT, MAX_CONCURRENCY=32, per database
TARGET_OVERHEAD_RATIO = 1 / 3
TARGET_COLD_START_RATIO = 0.4
TARGET_THROUGHPUT_RATIO = 8.0
TARGET_MEMORY_SLOPE = 64  # bytes per extra message
TARGET_TEMPLATE_RATE = 10000.0  # recipients/s of one merge_data message, 20 ms RTT, MAX_CONCURRENCY=16

FULL = dict(
    overhead_send_mail_n=40,  # the peers take ~0.1 s per message here (a new boto3 client each)
    overhead_batch_n=1000,
    overhead_runs=3,
    overhead_rounds=2,
    cold_start_samples=9,
    throughput_n=500,
    throughput_runs=3,
    rtt_ms=20,
    concurrency=10,
    rate_ns={1: 100, 10: 1000, 32: 2000},
    rate_peer_n=100,
    memory_ns=(1000, 10000),
    template_recipients=10000,
    template_runs=3,
)
QUICK = dict(
    overhead_send_mail_n=20,
    overhead_batch_n=200,
    overhead_runs=2,
    overhead_rounds=1,
    cold_start_samples=3,
    throughput_n=100,
    throughput_runs=1,
    rtt_ms=20,
    concurrency=10,
    rate_ns={1: 50, 10: 300, 32: 600},
    rate_peer_n=50,
    memory_ns=(100, 1000),
    template_recipients=2000,
    template_runs=1,
)


def is_postgres(db: str) -> bool:
    return db.startswith(("postgres://", "postgresql://"))


def database_settings(db: str) -> dict:
    """Django's DATABASES entry for a SQLite file, ``:memory:`` or a
    ``postgresql://user:password@host:port/name`` URL."""
    if is_postgres(db):
        from urllib.parse import unquote, urlsplit

        url = urlsplit(db)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": url.path.lstrip("/") or "postgres",
            "USER": unquote(url.username or ""),
            "PASSWORD": unquote(url.password or ""),
            "HOST": url.hostname or "",
            "PORT": str(url.port or ""),
        }
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": db}


def worker_database_settings(db: str) -> dict:
    """:func:`database_settings` for databases shared by worker processes:
    a SQLite file waits for its lock and writes through a WAL."""
    settings = database_settings(db)
    if not is_postgres(db):
        settings["OPTIONS"] = {
            "timeout": 60,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        }
    return settings


def queued_apps(redis_url: str | None) -> dict:
    """``INSTALLED_APPS`` and ``TASKS`` (and ``RQ_QUEUES``) for queued
    sending: django-tasks-db, or with ``redis_url`` django-tasks-rq."""
    import django

    apps = [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        *(["django_tasks"] if django.VERSION < (6, 0) else []),
        "django_tasks_db",
        "django_ses_query",
    ]
    if not redis_url:
        return {"INSTALLED_APPS": apps, "TASKS": {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}}
    return {
        "INSTALLED_APPS": [*apps, "django_rq", "django_tasks_rq"],
        "RQ_QUEUES": {"default": {"URL": redis_url}},
        "TASKS": {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}},
    }


def db_label(db: str) -> str:
    if db == MEMORY_DB:
        return "in-memory SQLite"
    if is_postgres(db):
        return "PostgreSQL"
    return "SQLite file"
