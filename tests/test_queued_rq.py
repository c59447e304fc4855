"""Queued sending on RQ (django-tasks-rq): real ``rqworker`` processes, with
RQ's default forking worker, against a redis-server the tests start, on
SQLite or PostgreSQL, and the local SES endpoint of tests/fakeses.py. Also
the shared rate limit (``RATE_LIMIT_CACHE`` on Redis) across four worker
processes, measured at the endpoint."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections import Counter

import pytest
from django.core.mail import EmailMessage
from django.core.management import call_command
from django.db import connection

from django_ses_query.models import EmailLog
from tests.fakeses import delay
from tests.test_queued_workers import Workers, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def message(subject="Subject", to="to@example.com"):
    return EmailMessage(subject=subject, body="Body", from_email="from@example.com", to=[to])


class RQWorkers(Workers):
    """``manage.py rqworker`` processes (RQ forks a work-horse per job)."""

    def command(self, batch: bool) -> list[str]:
        return [sys.executable, "-m", "django", "rqworker", "--job-class", "django_tasks_rq.Job", "default"]

    def wait(self, timeout: float = 300) -> None:
        """Wait until the queue is empty and every live worker is idle, then
        stop them. (Not ``--burst``: a burst worker can take a minute to
        leave, in redis-py's pub/sub thread.)"""
        import django_rq
        from rq import Worker

        queue = django_rq.get_queue("default")
        live = {process.pid for process, _ in self.processes if process.poll() is None}
        idle_since = None
        deadline = time.monotonic() + timeout
        while True:
            states = {w.pid: w.get_state() for w in Worker.all(queue=queue) if w.pid in live}
            idle = queue.count == 0 and len(states) == len(live) and set(states.values()) <= {"idle"}
            if not idle:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > 0.3:
                break
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the RQ workers did not finish within {timeout}s")
            time.sleep(0.05)
        for process, log in self.processes:
            if process.pid in live:
                assert process.poll() is None, log.read_text()  # No worker died on the way.
        self.stop()


@pytest.fixture
def rq_workers(tmp_path, settings, fake_ses, redis_db):
    settings.SES_QUERY = {**settings.SES_QUERY, "TASK_BACKEND": "rq"}
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
    pool = RQWorkers(tmp_path, settings.SES_QUERY)
    yield pool
    pool.stop()


def configure(settings, pool, **options):
    settings.SES_QUERY = {**settings.SES_QUERY, **options}
    pool.env["SESQ_TEST_SES_QUERY"] = json.dumps(settings.SES_QUERY)


def backend():
    from django_ses_query.backend import QueuedEmailBackend

    return QueuedEmailBackend()


def queue_length() -> int:
    import django_rq

    return django_rq.get_queue("default").count


def test_rq_workers_send_every_chunk_exactly_once_with_the_message_id_ses_answered(rq_workers, fake_ses, settings):
    configure(settings, rq_workers, MAX_CONCURRENCY=4)
    subjects = [f"RQ {n}" for n in range(400)]
    assert backend().send_messages([message(s, f"to{n}@example.com") for n, s in enumerate(subjects)]) == 400
    assert queue_length() == 10
    assert fake_ses.requests == []

    rq_workers.start(3)
    rq_workers.wait()

    assert Counter(r.params["Message.Subject.Data"] for r in fake_ses.requests) == Counter(subjects)
    answered = {r.params["Message.Subject.Data"]: r.message_id for r in fake_ses.sent}
    assert {row.subject: (row.status, row.message_id) for row in EmailLog.objects.all()} == {
        subject: ("sent", message_id) for subject, message_id in answered.items()
    }


def test_duplicated_and_redelivered_rq_jobs_send_nothing_twice(rq_workers, fake_ses, settings):
    from django_ses_query.tasks import send_queued_chunk, send_queued_email

    configure(settings, rq_workers, MAX_CONCURRENCY=4)
    backend().send_messages([message(f"Dup {n}") for n in range(30)])
    backend().send_messages([message("Single")])  # A MAX_CONCURRENCY of 4 and one row: send_queued_email.
    ids = list(EmailLog.objects.exclude(subject="Single").order_by("pk").values_list("pk", flat=True))
    single = EmailLog.objects.get(subject="Single").pk
    for _ in range(2):
        send_queued_chunk.using(backend="rq").enqueue(ids)
        send_queued_email.using(backend="rq").enqueue(single)

    rq_workers.start(3)
    rq_workers.wait()
    assert len(fake_ses.requests) == 31
    final = list(EmailLog.objects.order_by("pk").values())
    assert {row["status"] for row in final} == {"sent"}

    # Delivered again after success: nothing sent, no final row changed.
    send_queued_chunk.using(backend="rq").enqueue(ids)
    send_queued_email.using(backend="rq").enqueue(single)
    rq_workers.start(1)
    rq_workers.wait()
    assert len(fake_ses.requests) == 31
    assert list(EmailLog.objects.order_by("pk").values()) == final


def test_an_rq_worker_killed_with_its_work_horse_leaves_its_rows_in_flight_sending(rq_workers, fake_ses, settings):
    configure(settings, rq_workers, MAX_CONCURRENCY=3, TASK_CHUNK_SIZE=12)
    fake_ses.enqueue(delay(30), delay(30), delay(30))  # The first three requests are held.
    backend().send_messages([message(f"Horse {n}") for n in range(12)])
    ids = list(EmailLog.objects.order_by("pk").values_list("pk", flat=True))
    [worker] = rq_workers.start(1, batch=False)
    wait_for(lambda: len(fake_ses.requests) == 3, "the work-horse's three requests")
    rq_workers.kill(worker)

    assert dict(EmailLog.objects.values_list("pk", "status")) == {
        **{pk: "sending" for pk in ids[:3]}, **{pk: "queued" for pk in ids[3:]}
    }
    out = io.StringIO()
    call_command("ses_queue", "--recover-stale", "0", stdout=out)
    assert f"Now 'unknown': #{ids[0]}, #{ids[1]}, #{ids[2]}." in out.getvalue()
    lost = list(EmailLog.objects.filter(pk__in=ids[:3]).order_by("pk").values())
    assert {(row["status"], row["error_code"]) for row in lost} == {("unknown", "WorkerLost")}

    rq_workers.start(1)
    rq_workers.wait()
    assert Counter(r.params["Message.Subject.Data"] for r in fake_ses.requests) == Counter(
        f"Horse {n}" for n in range(12)
    )
    assert list(EmailLog.objects.filter(pk__in=ids[:3]).order_by("pk").values()) == lost
    assert set(EmailLog.objects.filter(pk__in=ids[3:]).values_list("status", flat=True)) == {"sent"}


def test_redis_down_at_commit_keeps_the_rows_queued_and_recovery_enqueues_them(rq_workers, fake_ses, settings, caplog):
    configure(settings, rq_workers, TASK_QUEUE="down")  # Nothing listens there.
    with caplog.at_level(logging.ERROR, logger="django_ses_query"):
        assert backend().send_messages([message("Waits 1"), message("Waits 2")]) == 2
    ids = list(EmailLog.objects.order_by("pk").values_list("pk", flat=True))
    assert set(EmailLog.objects.values_list("status", flat=True)) == {"queued"}
    [record] = [r for r in caplog.records if "Could not enqueue" in r.getMessage()]
    assert f"rows {ids[0]}, {ids[1]}" in record.getMessage()

    configure(settings, rq_workers, TASK_QUEUE="default")  # Redis is back.
    out = io.StringIO()
    call_command("ses_queue", "--recover-stale", "0", stdout=out)
    assert "2 row(s) queued for more than 0 minutes were enqueued again" in out.getvalue()
    rq_workers.start(1)
    rq_workers.wait()
    assert sorted(r.params["Message.Subject.Data"] for r in fake_ses.sent) == ["Waits 1", "Waits 2"]
    assert set(EmailLog.objects.values_list("status", flat=True)) == {"sent"}


def test_max_send_rate_holds_across_four_worker_processes_sharing_redis(rq_workers, fake_ses, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
                       "redis": settings.REDIS_CACHE}  # The workers' settings have it too.
    configure(settings, rq_workers, MAX_SEND_RATE=20, RATE_LIMIT_CACHE="redis", MAX_CONCURRENCY=4, TASK_CHUNK_SIZE=10)
    backend().send_messages([message(f"Paced {n}", f"to{n}@example.com") for n in range(200)])

    rq_workers.start(4)
    rq_workers.wait()

    arrivals = sorted(r.received_at for r in fake_ses.sent)
    assert len(arrivals) == 200
    # Any 2-second window at SES, the first included: at most 1.1 x 2 x 20 recipients.
    busiest = max(sum(1 for t in arrivals if start <= t < start + 2) for start in arrivals)
    assert busiest <= 44
    # Not starved: 200 recipients within 1.3 x 200 / 20 seconds, first to last.
    assert arrivals[-1] - arrivals[0] <= 13
    assert set(EmailLog.objects.values_list("status", flat=True)) == {"sent"}
