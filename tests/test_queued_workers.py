"""Queued sending drained by real worker processes (django-tasks-db's
``db_worker`` command), on SQLite (a file) or PostgreSQL
(``SES_QUERY_TEST_POSTGRES``), against the local SES endpoint of
tests/fakeses.py. What counts is what reached the endpoint."""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.core.mail import EmailMessage
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from django_ses_query.models import EmailLog
from tests.fakeses import delay

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db(transaction=True)


def message(subject="Subject", to="to@example.com"):
    return EmailMessage(subject=subject, body="Body", from_email="from@example.com", to=[to])


class Workers:
    """``manage.py db_worker`` processes on the test database, with the
    test's SES_QUERY; their output goes to files under ``tmp_path``."""

    def __init__(self, tmp_path: Path, ses_query: dict, **env: str) -> None:
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.queued_worker_settings",
            "SESQ_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
            "SESQ_TEST_SES_QUERY": json.dumps(ses_query),
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.processes: list[tuple[subprocess.Popen, Path]] = []

    def command(self, batch: bool) -> list[str]:
        command = [
            sys.executable, "-m", "django", "db_worker", "--backend", "db", "--interval", "0.05",
            "--no-startup-delay", "--no-reload", "--verbosity", "0",
        ]
        return [*command, "--batch"] if batch else command

    def start(self, count: int = 1, *, batch: bool = True) -> list[subprocess.Popen]:
        started = []
        for _ in range(count):
            log = self.tmp_path / f"worker-{len(self.processes)}.log"
            with open(log, "wb") as output:
                # Its own process group: a kill takes any child (RQ's work-horse) with it.
                process = subprocess.Popen(
                    self.command(batch), cwd=ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.processes.append((process, log))
            started.append(process)
        return started

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the worker, its process group, and its children (RQ's
        work-horse starts a session of its own)."""
        children = descendants(process.pid)
        os.killpg(process.pid, signal.SIGKILL)
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait()

    def wait(self, timeout: float = 300) -> None:
        """Wait for every batch worker to finish the queue and exit 0."""
        deadline = time.monotonic() + timeout
        for process, log in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stop()
                pytest.fail(f"a worker did not finish within {timeout}s:\n{log.read_text()}")
            assert process.returncode in (0, -signal.SIGKILL), log.read_text()

    def stop(self) -> None:
        for process, _ in self.processes:
            if process.poll() is None:
                self.kill(process)


def descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


@pytest.fixture
def workers(tmp_path, settings, fake_ses):
    settings.SES_QUERY = {**settings.SES_QUERY, "TASK_BACKEND": "db"}
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
    pool = Workers(tmp_path, settings.SES_QUERY)
    yield pool
    pool.stop()


@pytest.fixture
def backend(workers):
    from django_ses_query.backend import QueuedEmailBackend

    return QueuedEmailBackend()


def tasks():
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.all()


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_four_workers_send_two_thousand_messages_each_exactly_once(backend, workers, fake_ses):
    subjects = [f"Message {number}" for number in range(2000)]
    assert backend.send_messages([message(subject, f"to{n}@example.com") for n, subject in enumerate(subjects)]) == 2000
    assert tasks().count() == 2000
    assert fake_ses.requests == []  # Queuing sent nothing.

    workers.start(4)
    workers.wait()

    received = Counter(request.params["Message.Subject.Data"] for request in fake_ses.requests)
    assert received == Counter(subjects)  # Every message once, none twice.
    rows = EmailLog.objects.all()
    assert Counter(row.status for row in rows) == {"sent": 2000}
    assert sorted(row.message_id for row in rows) == sorted(r.message_id for r in fake_ses.sent)
    assert all(row.request_body == "" and row.claimed_at is not None for row in rows)
    # The queue really was shared.
    assert len({worker for task in tasks() for worker in task.worker_ids}) > 1


def test_a_worker_killed_mid_send_leaves_the_row_unknown_and_nothing_is_resent(backend, workers, fake_ses):
    fake_ses.enqueue(delay(30))  # The endpoint holds the first request.
    backend.send_messages([message("Killed")])
    [worker] = workers.start(1, batch=False)
    wait_for(lambda: len(fake_ses.requests) == 1, "the worker's request")
    row = EmailLog.objects.get()
    assert row.status == "sending"

    workers.kill(worker)
    out = io.StringIO()
    call_command("ses_queue", "--recover-stale", "0", stdout=out)

    row.refresh_from_db()
    assert row.status == "unknown"
    assert row.error_code == "WorkerLost"
    assert row.request_body.startswith("Action=SendEmail&")  # Kept for Resend (LOG_BODY is off).
    assert "1 row(s) stuck in 'sending'" in out.getvalue()
    assert f"Now 'unknown': #{row.pk}." in out.getvalue()
    assert re.search(r"^unknown +1$", out.getvalue(), re.MULTILINE)

    # Another worker and another recovery find nothing to send.
    workers.start(1)
    workers.wait()
    call_command("ses_queue", "--recover-stale", "0", stdout=io.StringIO())
    workers.start(1)
    workers.wait()
    assert len(fake_ses.requests) == 1
    assert EmailLog.objects.get().status == "unknown"


def test_a_lost_task_is_enqueued_again_by_recovery(backend, workers, fake_ses):
    backend.send_messages([message("Lost task")])
    tasks().delete()  # As if the task queue lost it.
    workers.start(1)
    workers.wait()
    assert fake_ses.requests == []
    assert EmailLog.objects.get().status == "queued"

    out = io.StringIO()
    call_command("ses_queue", "--recover-stale", "0", stdout=out)
    assert "1 row(s) queued for more than 0 minutes were enqueued again" in out.getvalue()
    workers.start(1)
    workers.wait()
    assert [r.params["Message.Subject.Data"] for r in fake_ses.sent] == ["Lost task"]
    assert EmailLog.objects.get().status == "sent"


def test_a_duplicated_task_sends_once(backend, workers, fake_ses):
    from django_ses_query.queued.enqueue import task_for

    backend.send_messages([message("Twice enqueued")])
    row = EmailLog.objects.get()
    task_for(backend.config).enqueue(row.pk)
    assert [task.args_kwargs["args"] for task in tasks()] == [[row.pk], [row.pk]]

    workers.start(2)
    workers.wait()

    assert len(fake_ses.requests) == 1
    row.refresh_from_db()
    assert row.status == "sent"
    assert row.message_id == fake_ses.sent[0].message_id
    assert sorted(task.return_value for task in tasks()) == ["", "sent"]


def test_a_rolled_back_transaction_sends_nothing_and_leaves_no_row(backend, workers, fake_ses):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            assert backend.send_messages([message("Rolled back")]) == 1
            raise RuntimeError("the view failed")
    assert not EmailLog.objects.exists()
    assert not tasks().exists()

    with transaction.atomic():
        backend.send_messages([message("Committed")])
    assert tasks().count() == 1

    workers.start(1)
    workers.wait()
    assert [r.params["Message.Subject.Data"] for r in fake_ses.requests] == ["Committed"]


def test_signed_at_send_time_however_long_the_message_waited(backend, workers, fake_ses):
    """SES refuses a signature more than 5 minutes old (RequestExpired): a
    message that waited an hour in the queue is signed by the worker."""
    backend.send_messages([message("Waited")])
    row = EmailLog.objects.get()
    assert "Signature" not in row.request_body and "AWS4-HMAC-SHA256" not in row.request_body
    an_hour_ago = timezone.now() - datetime.timedelta(hours=1)
    EmailLog.objects.update(created_at=an_hour_ago)
    started = timezone.now().replace(microsecond=0)

    workers.start(1)
    workers.wait()

    [request] = fake_ses.sent
    signed = datetime.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.timezone.utc
    )
    assert signed >= started
    assert signed - an_hour_ago > datetime.timedelta(minutes=5)
    assert EmailLog.objects.get().status == "sent"


# -- Chunks --------------------------------------------------------------------------------------


def test_two_workers_send_chunks_exactly_once_with_the_message_id_ses_answered(workers, fake_ses, settings):
    from django_ses_query.backend import QueuedEmailBackend

    settings.SES_QUERY = {**settings.SES_QUERY, "MAX_CONCURRENCY": 8}
    workers.env["SESQ_TEST_SES_QUERY"] = json.dumps(settings.SES_QUERY)
    subjects = [f"Chunked {n}" for n in range(1200)]
    QueuedEmailBackend().send_messages([message(s, f"to{n}@example.com") for n, s in enumerate(subjects)])
    assert tasks().count() == 15  # Chunks of 10 x MAX_CONCURRENCY.

    workers.start(2)
    workers.wait()

    assert Counter(r.params["Message.Subject.Data"] for r in fake_ses.requests) == Counter(subjects)
    answered = {r.params["Message.Subject.Data"]: r.message_id for r in fake_ses.sent}
    rows = EmailLog.objects.all()
    assert Counter(row.status for row in rows) == {"sent": 1200}
    assert {row.subject: row.message_id for row in rows} == answered
    assert all(task.return_value and set(task.return_value.values()) == {"sent"} for task in tasks())


def test_duplicated_and_redelivered_chunk_tasks_send_each_row_once(workers, fake_ses, settings):
    from django_ses_query.backend import QueuedEmailBackend
    from django_ses_query.tasks import send_queued_chunk

    settings.SES_QUERY = {**settings.SES_QUERY, "MAX_CONCURRENCY": 4}
    workers.env["SESQ_TEST_SES_QUERY"] = json.dumps(settings.SES_QUERY)
    QueuedEmailBackend().send_messages([message(f"Dup {n}") for n in range(40)])
    [task] = tasks()
    ids = task.args_kwargs["args"][0]
    for _ in range(3):  # The same chunk, three more times.
        send_queued_chunk.using(backend="db").enqueue(ids)

    workers.start(3)
    workers.wait()

    assert len(fake_ses.requests) == 40
    assert Counter(r.params["Message.Subject.Data"] for r in fake_ses.requests) == Counter(f"Dup {n}" for n in range(40))
    final = list(EmailLog.objects.order_by("pk").values())
    assert {row["status"] for row in final} == {"sent"}

    # Delivered again after success: nothing sent, no final row changed.
    send_queued_chunk.using(backend="db").enqueue(ids)
    workers.start(1)
    workers.wait()
    assert len(fake_ses.requests) == 40
    assert list(EmailLog.objects.order_by("pk").values()) == final


def test_a_worker_killed_mid_chunk_leaves_only_its_rows_in_flight_sending(workers, fake_ses, settings):
    from django_ses_query.backend import QueuedEmailBackend

    settings.SES_QUERY = {**settings.SES_QUERY, "MAX_CONCURRENCY": 2, "TASK_CHUNK_SIZE": 10}
    workers.env["SESQ_TEST_SES_QUERY"] = json.dumps(settings.SES_QUERY)
    fake_ses.enqueue(delay(30), delay(30))  # The endpoint holds the first two requests.
    QueuedEmailBackend().send_messages([message(f"Chunk {n}") for n in range(10)])
    ids = list(EmailLog.objects.order_by("pk").values_list("pk", flat=True))
    [worker] = workers.start(1, batch=False)
    wait_for(lambda: len(fake_ses.requests) == 2, "the worker's two requests")
    workers.kill(worker)

    statuses = dict(EmailLog.objects.values_list("pk", "status"))
    assert statuses == {**{pk: "sending" for pk in ids[:2]}, **{pk: "queued" for pk in ids[2:]}}

    out = io.StringIO()
    call_command("ses_queue", "--recover-stale", "0", stdout=out)
    assert f"Now 'unknown': #{ids[0]}, #{ids[1]}." in out.getvalue()
    assert "8 row(s) queued for more than 0 minutes were enqueued again" in out.getvalue()
    lost = list(EmailLog.objects.filter(pk__in=ids[:2]).order_by("pk").values())
    assert [(row["status"], row["error_code"]) for row in lost] == [("unknown", "WorkerLost")] * 2

    workers.start(1)
    workers.wait()
    # The rest sent once; nothing resent; the unknown rows untouched.
    assert Counter(r.params["Message.Subject.Data"] for r in fake_ses.requests) == Counter(f"Chunk {n}" for n in range(10))
    assert list(EmailLog.objects.filter(pk__in=ids[:2]).order_by("pk").values()) == lost
    assert dict(EmailLog.objects.filter(pk__in=ids[2:]).values_list("status").annotate(n=Count("pk"))) == {"sent": 8}
