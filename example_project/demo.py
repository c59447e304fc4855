"""The Python half of ``demo.sh``: a local SES, and the demo run against it.

``python demo.py moto --env-file FILE``
    Starts moto's server as a local Amazon SES with signature checking on
    (``tests/moto_ses.py``), verifies the demo's sender there, and writes the
    endpoint and the issued key to FILE as ``SES_DEMO_*`` shell assignments
    (mode 0600; the secret is never printed). Then it keeps the server up
    until it gets SIGTERM or SIGINT, or its parent goes away.

``python demo.py run``
    With ``SES_DEMO_*`` in the environment: a fresh SQLite database,
    ``migrate``, ``check``, four messages through Django's mail API (three
    that SES accepts, one it rejects), the send log as a table, a comparison
    with what moto recorded; then queued sending: three messages queued
    through ``QueuedEmailBackend``, a ``db_worker`` process that sends them,
    the rows before and after; and the ``admin``/``admin`` superuser. Exits 1
    when anything is not as expected.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent

SENDER = "demo@example.com"  # Verified in moto: SES accepts mail from it.
UNVERIFIED_SENDER = "someone@unverified.example.org"  # Never verified.
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"  # The local demo only.
EXPECTED_SENT = 3
EXPECTED_FAILED = 1


# -- moto ------------------------------------------------------------------


def _write_env_file(path: Path, values: dict[str, str]) -> None:
    """Write ``NAME='value'`` lines, readable by the owner only, atomically."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        for name, value in values.items():
            handle.write(f"{name}={shlex.quote(value)}\n")
    os.replace(temporary, path)


def run_moto(env_file: Path, region: str) -> int:
    # tests/moto_ses.py is a plain module of this repository, not part of the
    # installed package.
    sys.path.insert(0, str(REPO_ROOT))
    from tests.moto_ses import MotoSES

    def stop(signum, frame):
        raise SystemExit(0)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)

    parent = os.getppid()
    ses = MotoSES(region=region)
    try:
        ses.start()
        ses.verify_email_identity(SENDER)
        from demo_events import setup as setup_events

        events_env = setup_events(ses)
        # MotoSES has no public attribute for its server's pid; demo.sh
        # only uses it to stop the server should this process die first.
        process = getattr(ses, "_process", None)
        print(
            f"moto's SES is up at {ses.endpoint_url} (region {ses.region}, "
            "signature checking on)",
            flush=True,
        )
        print(
            f"IAM user's access key: {ses.access_key_id} (secret not shown); "
            f"verified sender: {SENDER}",
            flush=True,
        )
        # Last: demo.sh goes on as soon as this file is there.
        _write_env_file(
            env_file,
            {
                "SES_DEMO_ENDPOINT_URL": ses.endpoint_url,
                "SES_DEMO_REGION": ses.region,
                "SES_DEMO_ACCESS_KEY_ID": ses.access_key_id,
                "SES_DEMO_SECRET_ACCESS_KEY": ses.secret_access_key,
                "SES_DEMO_MOTO_PID": str(process.pid) if process else "",
                **events_env,
            },
        )
        while True:
            time.sleep(0.5)
            if not ses.running:
                print(f"moto's server stopped by itself:\n{ses.log_tail()}", file=sys.stderr)
                return 1
            if os.getppid() != parent:
                return 0  # demo.sh is gone: do not outlive it.
    finally:
        ses.stop()


# -- the demo run ----------------------------------------------------------


def _moto_recorded(endpoint_url: str) -> dict[str, list[dict]]:
    import requests

    with requests.Session() as session:
        session.trust_env = False  # A server on this machine: no proxy.
        response = session.get(f"{endpoint_url}/moto-api/data.json", timeout=30)
        response.raise_for_status()
    ses = response.json().get("ses", {})
    return {"SendEmail": ses.get("Message", []), "SendRawEmail": ses.get("RawMessage", [])}


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    line = "+-" + "-+-".join("-" * width for width in widths) + "-+"

    def format_row(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line, format_row(headers), line, *map(format_row, rows), line])


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_demo() -> int:
    endpoint_url = os.environ.get("SES_DEMO_ENDPOINT_URL")
    if not endpoint_url or not os.environ.get("SES_DEMO_ACCESS_KEY_ID"):
        print(
            "SES_DEMO_ENDPOINT_URL and SES_DEMO_ACCESS_KEY_ID are not set: "
            "run this through demo.sh, which starts the local SES.",
            file=sys.stderr,
        )
        return 2

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
    import django

    django.setup()

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core import mail
    from django.core.management import call_command
    from django.db import connections

    import django_ses_query
    from django_ses_query.exceptions import SESError
    from django_ses_query.models import EmailLog

    print(
        f"Python {sys.version.split()[0]}, Django {django.get_version()}, "
        f"django-ses-query {django_ses_query.__version__} "
        f"from {Path(django_ses_query.__file__).parent}"
    )
    mailer_setting = "MAILERS" if django.VERSION >= (6, 1) else "EMAIL_BACKEND"
    print(
        f"Email backend ({mailer_setting}): django_ses_query.backend.EmailBackend, "
        f"endpoint {settings.SES_QUERY['ENDPOINT_URL']}"
    )

    # A fresh database each run: the log below is this run's only.
    database = Path(settings.DATABASES["default"]["NAME"])
    connections.close_all()
    if database.exists():
        database.unlink()
    call_command("migrate", interactive=False, verbosity=0)
    print(f"Migrated a fresh SQLite database: {database}")
    call_command("check")

    # 1. Plain text, with send_mail().
    print("\nSending through Django's mail API:")
    count = mail.send_mail(
        "Plain text from the demo",
        "Hello Alice,\n\nthis went through Amazon SES's Query API (SendEmail).\n",
        SENDER,
        ["Alice Example <alice@example.net>"],
    )
    print(f"  1. send_mail(), plain text                    -> {count} sent")

    # 2. Text and HTML, with EmailMultiAlternatives.
    message = mail.EmailMultiAlternatives(
        "An HTML message from the demo",
        "Hello Bob,\n\nthe plain text part.\n",
        SENDER,
        ["bob@example.net"],
        cc=["carol@example.net"],
        reply_to=["support@example.com"],
    )
    message.attach_alternative(
        "<p>Hello Bob,</p><p>the <strong>HTML</strong> part.</p>", "text/html"
    )
    count = message.send()
    print(f"  2. EmailMultiAlternatives, text + HTML        -> {count} sent")

    # 3. An attachment: SES cannot build that MIME itself, so SendRawEmail.
    message = mail.EmailMessage(
        "Monthly report (with an attachment)",
        "Dave,\n\nthe report is attached.\n",
        SENDER,
        ["dave@example.net"],
        bcc=["archive@example.com"],
    )
    message.attach("report.csv", "month,sent\n2025-01,3\n", "text/csv")
    count = message.send()
    print(f"  3. EmailMessage with an attachment (raw)      -> {count} sent")

    # 4. From an address SES has not verified: rejected, and logged.
    message = mail.EmailMessage(
        "This one is rejected",
        "SES refuses mail from a sender it has not verified.\n",
        UNVERIFIED_SENDER,
        ["erin@example.net"],
    )
    if django.VERSION >= (6, 1):
        # Django 6.1 deprecates fail_silently: catch the backend's error.
        try:
            count = message.send()
        except SESError:
            count = 0
    else:
        count = message.send(fail_silently=True)
    how = "error caught" if django.VERSION >= (6, 1) else "fail_silently"
    print(f"  4. from an unverified sender, {how:<15} -> {count} sent")

    # The send log, oldest first.
    logs = list(EmailLog.objects.order_by("created_at", "id"))
    print("\nThe send log (django_ses_query.models.EmailLog):")
    print(
        _table(
            ["#", "status", "action", "SES MessageId", "to", "subject", "error code"],
            [
                [
                    str(log.pk),
                    log.status,
                    log.action,
                    log.message_id or "-",
                    _shorten(", ".join(log.to), 36),
                    _shorten(log.subject, 36),
                    log.error_code or "-",
                ]
                for log in logs
            ],
        )
    )
    for log in logs:
        if log.status == EmailLog.Status.FAILED:
            print(f"  #{log.pk} {log.error_code} (HTTP {log.http_status}): {log.error_message}")

    # What moto says it accepted.
    recorded = _moto_recorded(endpoint_url)
    sent = [log for log in logs if log.status == EmailLog.Status.SENT]
    failed = [log for log in logs if log.status == EmailLog.Status.FAILED]
    moto_ids = {
        action: sorted(message["id"] for message in messages)
        for action, messages in recorded.items()
    }
    logged_ids = {
        action: sorted(log.message_id for log in sent if log.action == action)
        for action in recorded
    }
    raw = recorded["SendRawEmail"]
    moto_count = sum(len(messages) for messages in recorded.values())

    checks = [
        (f"{EXPECTED_SENT} sent", len(sent) == EXPECTED_SENT),
        (f"{EXPECTED_FAILED} failed", len(failed) == EXPECTED_FAILED),
        (
            "the failure is SES's MessageRejected",
            [log.error_code for log in failed] == ["MessageRejected"],
        ),
        (
            "actions: SendEmail, SendEmail, SendRawEmail, SendEmail",
            [log.action for log in logs]
            == ["SendEmail", "SendEmail", "SendRawEmail", "SendEmail"],
        ),
        (f"moto recorded {EXPECTED_SENT} messages", moto_count == EXPECTED_SENT),
        ("moto's MessageIds are the logged ones", moto_ids == logged_ids),
        (
            "the attachment reached moto",
            len(raw) == 1 and 'filename="report.csv"' in raw[0].get("raw_data", ""),
        ),
    ]
    # SES events for the messages sent: SNS -> SQS -> ses_events.
    from demo_events import run as run_events

    checks += run_events(sent, _table)

    print()
    for label, passed in checks:
        print(f"  [{'ok' if passed else 'FAIL'}] {label}")

    queued_checks = _queued_demo(endpoint_url, _table)
    checks += queued_checks

    # The admin's login.
    User = get_user_model()
    admin, _ = User.objects.get_or_create(
        username=ADMIN_USERNAME,
        defaults={"email": "admin@example.com", "is_staff": True, "is_superuser": True},
    )
    admin.set_password(ADMIN_PASSWORD)
    admin.save()

    ok = all(passed for _, passed in checks)
    print(
        f"\nSummary: {len(logs)} messages attempted: {len(sent)} sent, {len(failed)} failed "
        f"(expected {EXPECTED_SENT} sent, {EXPECTED_FAILED} failed); moto recorded "
        f"{moto_count} ({len(recorded['SendEmail'])} SendEmail, {len(raw)} SendRawEmail) "
        f"-> {'OK' if ok else 'FAILED'}"
    )
    return 0 if ok else 1


QUEUED_COUNT = 3


def _queued_demo(endpoint_url: str, table) -> list[tuple[str, bool]]:
    """Queued sending: queue messages (no network), show the rows queued,
    run one database worker process until the queue is empty, show them sent."""
    import subprocess

    from django.core import mail
    from django.db.models import Count

    from django_ses_query.backend import QueuedEmailBackend
    from django_ses_query.models import EmailLog

    print("\nQueued sending (django_ses_query.backend.QueuedEmailBackend, django-tasks-db):")
    before = {action: len(messages) for action, messages in _moto_recorded(endpoint_url).items()}
    messages = [
        mail.EmailMessage(
            f"Queued message {number} from the demo",
            "This one waited in the queue; a worker process signed and sent it.\n",
            SENDER,
            [f"queued{number}@example.net"],
        )
        for number in range(1, QUEUED_COUNT + 1)
    ]
    started = time.perf_counter()
    count = QueuedEmailBackend().send_messages(messages)
    took = (time.perf_counter() - started) * 1000
    print(f"  send_messages() queued {count} messages in {took:.1f} ms (nothing sent yet)")
    ids = [message.ses_log.pk for message in messages]

    def show(when: str) -> list:
        rows = list(EmailLog.objects.filter(pk__in=ids).order_by("pk"))
        print(f"  {when}:")
        print(table(["#", "status", "SES MessageId", "to", "subject"], [
            [str(row.pk), row.status, row.message_id or "-", ", ".join(row.to), row.subject] for row in rows
        ]))
        return rows

    queued = show("the rows, before any worker")
    print("  Starting a worker: manage.py db_worker --batch (it exits once the queue is empty)")
    worker = subprocess.run(
        [sys.executable, str(HERE / "manage.py"), "db_worker", "--batch", "--interval", "0",
         "--no-startup-delay", "--no-reload", "--verbosity", "0"],
        cwd=HERE, timeout=300,
    )
    sent = show("the rows, after the worker")
    recorded = _moto_recorded(endpoint_url)
    moto_new = len(recorded["SendEmail"]) - before["SendEmail"]
    moto_new_ids = set(m["id"] for m in recorded["SendEmail"]) - set(
        log.message_id for log in EmailLog.objects.exclude(pk__in=ids)
    )
    counts = dict(EmailLog.objects.filter(pk__in=ids).order_by().values_list("status").annotate(Count("pk")))
    checks = [
        (f"{QUEUED_COUNT} queued, nothing sent while queuing", [r.status for r in queued] == ["queued"] * QUEUED_COUNT),
        ("the worker exited cleanly", worker.returncode == 0),
        (f"{QUEUED_COUNT} queued rows now sent", counts == {"sent": QUEUED_COUNT}),
        (
            f"moto recorded {QUEUED_COUNT} more messages, with the logged MessageIds",
            moto_new == QUEUED_COUNT and moto_new_ids == {r.message_id for r in sent},
        ),
    ]
    print()
    for label, passed in checks:
        print(f"  [{'ok' if passed else 'FAIL'}] {label}")
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    moto = commands.add_parser("moto", help="run the local SES until stopped")
    moto.add_argument("--env-file", type=Path, required=True)
    moto.add_argument("--region", default="us-east-1")
    commands.add_parser("run", help="migrate, send, show the log, check it")
    args = parser.parse_args(argv)
    if args.command == "moto":
        return run_moto(args.env_file, args.region)
    return run_demo()


if __name__ == "__main__":
    sys.exit(main())
