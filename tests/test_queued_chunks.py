"""Queued rows in chunks, in one process: TASK_CHUNK_SIZE, how many tasks
``send_messages()`` enqueues, ``send_queued_chunk`` and its claims, the time
budget, and recovery of a chunk's rows. Real worker processes:
tests/test_queued_workers.py and tests/test_queued_rq.py."""

from __future__ import annotations

import io
import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage
from django.core.management import call_command
from django.utils import timezone

from django_ses_query.backend import QueuedEmailBackend
from django_ses_query.models import EmailLog
from django_ses_query.queued.worker import send_chunk
from django_ses_query.tasks import send_queued_chunk, send_queued_email
from tests.fakeses import delay, error

pytestmark = pytest.mark.django_db


def message(subject="Subject", to="to@example.com"):
    return EmailMessage(subject=subject, body="Body", from_email="from@example.com", to=[to])


def messages(count):
    return [message(f"Message {n}", f"to{n}@example.com") for n in range(count)]


def tasks():
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.order_by("enqueued_at", "id")


def snapshot():
    return list(EmailLog.objects.order_by("pk").values())


@pytest.fixture
def db_tasks(settings, fake_ses):
    """Tasks stored by django-tasks-db, with no worker to run them."""
    settings.SES_QUERY = {**settings.SES_QUERY, "TASK_BACKEND": "db"}
    return fake_ses


def set_options(settings, **options):
    settings.SES_QUERY = {**settings.SES_QUERY, **{name.upper(): value for name, value in options.items()}}


# -- The setting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1001, -5, "10", 2.5, True])
def test_task_chunk_size_out_of_range_or_not_an_integer_is_refused(fake_ses, value):
    with pytest.raises(ImproperlyConfigured, match="TASK_CHUNK_SIZE"):
        QueuedEmailBackend(task_chunk_size=value)


# -- What send_messages() enqueues -----------------------------------------------------------------


def test_one_row_per_task_while_max_concurrency_is_one(db_tasks):
    assert QueuedEmailBackend().send_messages(messages(5)) == 5
    rows = list(EmailLog.objects.order_by("pk").values_list("pk", flat=True))
    assert [(t.task_path, t.args_kwargs["args"]) for t in tasks()] == [
        ("django_ses_query.tasks.send_queued_email", [pk]) for pk in rows
    ]


def test_four_hundred_messages_at_max_concurrency_four_make_ten_chunk_tasks(db_tasks):
    assert QueuedEmailBackend(max_concurrency=4).send_messages(messages(400)) == 400
    rows = list(EmailLog.objects.order_by("pk").values_list("pk", flat=True))
    found = list(tasks())
    assert len(found) == 10
    assert {t.task_path for t in found} == {"django_ses_query.tasks.send_queued_chunk"}
    assert [pk for t in found for pk in t.args_kwargs["args"][0]] == rows
    assert all(len(t.args_kwargs["args"][0]) == 40 for t in found)
    assert db_tasks.requests == []


def test_the_automatic_chunk_stops_at_a_thousand_rows(db_tasks):
    QueuedEmailBackend(max_concurrency=200).send_messages(messages(1500))
    assert [len(t.args_kwargs["args"][0]) for t in tasks()] == [1000, 500]


def test_an_explicit_chunk_size_wins_and_one_is_a_task_per_row(db_tasks):
    QueuedEmailBackend(max_concurrency=8, task_chunk_size=3).send_messages(messages(7))
    shapes = [(t.task_path.rsplit(".", 1)[1], t.args_kwargs["args"][0]) for t in tasks()]
    ids = list(EmailLog.objects.order_by("pk").values_list("pk", flat=True))
    assert shapes == [
        ("send_queued_chunk", ids[0:3]), ("send_queued_chunk", ids[3:6]), ("send_queued_email", ids[6]),
    ]
    EmailLog.objects.all().delete()
    tasks().delete()
    QueuedEmailBackend(max_concurrency=8, task_chunk_size=1).send_messages(messages(3))
    assert {t.task_path for t in tasks()} == {"django_ses_query.tasks.send_queued_email"}


def test_a_single_message_stays_send_queued_email_with_the_bare_row_id(db_tasks, settings):
    set_options(settings, max_concurrency=16)
    QueuedEmailBackend().send_messages([message("One")])  # What send_mail() does.
    [task] = tasks()
    assert task.task_path == "django_ses_query.tasks.send_queued_email"
    assert task.args_kwargs == {"args": [EmailLog.objects.get().pk], "kwargs": {}}


def test_chunk_tasks_take_the_task_queue_priority_and_the_options(db_tasks):
    QueuedEmailBackend(max_concurrency=2, task_queue="mail", task_priority=7).send_messages(messages(4))
    [task] = tasks()
    assert task.task_path == "django_ses_query.tasks.send_queued_chunk"
    assert (task.queue_name, task.priority) == ("mail", 7)
    assert task.args_kwargs["kwargs"] == {"options": {"max_concurrency": 2, "task_queue": "mail", "task_priority": 7}}


# -- The chunk task ----------------------------------------------------------------------------------


def test_a_chunk_is_sent_concurrently_once_with_the_message_id_ses_answered(fake_ses, settings, django_capture_on_commit_callbacks):
    set_options(settings, max_concurrency=4)
    with django_capture_on_commit_callbacks(execute=True):
        QueuedEmailBackend().send_messages(messages(40))
    assert len(fake_ses.sent) == 40
    by_subject = {r.params["Message.Subject.Data"]: r.message_id for r in fake_ses.sent}
    rows = EmailLog.objects.all()
    assert {row.status for row in rows} == {"sent"}
    assert {row.subject: row.message_id for row in rows} == by_subject
    assert len({row.claim for row in rows}) == 1 and all(row.claim for row in rows)


def test_a_chunk_task_enqueued_again_from_its_path_with_the_same_arguments(db_tasks, settings):
    QueuedEmailBackend(max_concurrency=2).send_messages(messages(3))
    [task] = tasks()
    ids = task.args_kwargs["args"][0]
    again = send_queued_chunk.using(backend="db", queue_name="mail", priority=3).enqueue(ids, mailer=None, options=None)
    stored = tasks().get(id=again.id)
    assert (stored.task_path, stored.queue_name, stored.priority) == ("django_ses_query.tasks.send_queued_chunk", "mail", 3)
    assert stored.args_kwargs == {"args": [ids], "kwargs": {"mailer": None, "options": None}}
    # Run as a worker would, twice: the second copy sends nothing and writes nothing.
    set_options(settings, max_concurrency=2)
    assert send_queued_chunk.call(*stored.args_kwargs["args"], **stored.args_kwargs["kwargs"]) == {
        str(pk): "sent" for pk in ids
    }
    before = snapshot()
    assert send_queued_chunk.call(ids) == {}
    assert snapshot() == before
    assert len(db_tasks.requests) == 3


def test_a_chunk_skips_rows_another_claim_won_and_leaves_them_alone(db_tasks, settings):
    set_options(settings, max_concurrency=4)
    QueuedEmailBackend().send_messages(messages(6))
    ids = list(EmailLog.objects.order_by("pk").values_list("pk", flat=True))
    theirs = ids[1::2]
    EmailLog.objects.filter(pk__in=theirs).update(status="sending", claimed_at=timezone.now(), claim="another")
    before = {row["id"]: row for row in snapshot() if row["id"] in theirs}

    assert set(send_chunk(ids)) == set(ids[0::2])

    assert sorted(r.params["Message.Subject.Data"] for r in db_tasks.sent) == ["Message 0", "Message 2", "Message 4"]
    assert {row["id"]: row for row in snapshot() if row["id"] in theirs} == before


def test_a_row_per_task_still_works_and_a_duplicate_sends_nothing(db_tasks):
    QueuedEmailBackend().send_messages([message("Alone")])
    row = EmailLog.objects.get()
    assert send_queued_email.call(row.pk) == "sent"
    before = snapshot()
    assert send_queued_email.call(row.pk) == ""
    assert snapshot() == before
    assert len(db_tasks.requests) == 1


def test_after_its_time_budget_a_chunk_hands_its_unclaimed_rows_to_a_new_task(db_tasks, settings, monkeypatch):
    from django_ses_query.queued import claims

    set_options(settings, max_concurrency=2)
    QueuedEmailBackend().send_messages(messages(6))
    ids = list(EmailLog.objects.order_by("pk").values_list("pk", flat=True))
    tasks().delete()
    db_tasks.enqueue(delay(0.5), delay(0.5))  # The first two requests outlast the budget.

    monkeypatch.setattr(claims, "TIME_BUDGET", 0.2)

    statuses = send_queued_chunk.call(ids)

    assert statuses == {str(ids[0]): "sent", str(ids[1]): "sent"}
    assert dict(EmailLog.objects.values_list("pk", "status")) == {
        **{pk: "sent" for pk in ids[:2]}, **{pk: "queued" for pk in ids[2:]}
    }
    [task] = tasks()
    assert task.task_path == "django_ses_query.tasks.send_queued_chunk"
    assert task.args_kwargs == {"args": [ids[2:]], "kwargs": {"mailer": None, "options": None}}
    assert len(db_tasks.requests) == 2


def test_failures_and_unknown_outcomes_in_a_chunk_are_recorded_per_row(db_tasks, settings):
    set_options(settings, max_concurrency=3)
    QueuedEmailBackend().send_messages(messages(3))
    db_tasks.enqueue(error("MessageRejected"))
    statuses = send_chunk(list(EmailLog.objects.order_by("pk").values_list("pk", flat=True)))
    assert sorted(statuses.values()) == ["failed", "sent", "sent"]
    failed = EmailLog.objects.get(status="failed")
    assert failed.error_code == "MessageRejected" and failed.request_body == ""


# -- Recovery ------------------------------------------------------------------------------------


def test_recovery_names_the_rows_it_made_unknown_and_keeps_their_request_for_resend(db_tasks, settings, django_capture_on_commit_callbacks):
    set_options(settings, max_concurrency=4)
    QueuedEmailBackend().send_messages(messages(5))
    ids = list(EmailLog.objects.order_by("pk").values_list("pk", flat=True))
    lost = ids[:2]
    EmailLog.objects.filter(pk__in=lost).update(status="sending", claimed_at=timezone.now(), claim="dead")
    tasks().delete()

    out = io.StringIO()
    call_command("ses_queue", "--recover-stale", "0", stdout=out)
    text = out.getvalue()
    assert "2 row(s) stuck in 'sending'" in text
    assert f"Now 'unknown': #{lost[0]}, #{lost[1]}." in text
    assert "3 row(s) queued for more than 0 minutes were enqueued again" in text
    assert re.search(r"^unknown +2$", text, re.MULTILINE)
    # The stale queued rows come back as one chunk.
    assert [t.args_kwargs["args"][0] for t in tasks()] == [ids[2:]]

    unknown = EmailLog.objects.get(pk=lost[0])
    assert (unknown.status, unknown.error_code) == ("unknown", "WorkerLost")
    assert unknown.request_body.startswith("Action=SendEmail&")  # LOG_BODY is off; kept for Resend.

    from django_ses_query.queued.recovery import resend

    settings.SES_QUERY = {**settings.SES_QUERY, "TASK_BACKEND": "default"}
    with django_capture_on_commit_callbacks(execute=True):
        new = resend(QueuedEmailBackend(), unknown)
    new.refresh_from_db()
    unknown.refresh_from_db()
    assert new.status == "sent" and new.resent_from == unknown
    assert unknown.request_body == ""  # Dropped once resent.
    assert [r.params["Message.Subject.Data"] for r in db_tasks.sent] == ["Message 0"]


def test_a_chunk_uses_the_workers_one_database_connection_whatever_max_concurrency(db_tasks, settings):
    import threading

    from django.db import connections
    from django.db.backends.signals import connection_created

    set_options(settings, max_concurrency=16, suppression=True)
    QueuedEmailBackend().send_messages(messages(64))
    ids = list(EmailLog.objects.order_by("pk").values_list("pk", flat=True))
    opened = []
    receiver = lambda sender, connection, **kwargs: opened.append(threading.current_thread())  # noqa: E731
    connection_created.connect(receiver)
    try:
        assert len(send_chunk(ids)) == 64
    finally:
        connection_created.disconnect(receiver)
    assert set(opened) <= {threading.main_thread()}  # No sending thread opened one of its own.
    assert len(db_tasks.sent) == 64
    assert connections["default"].connection is not None


@pytest.mark.django_db(transaction=True)
def test_a_late_worker_never_changes_a_row_recovery_made_unknown(db_tasks):
    import threading
    import time

    from django.db import connections

    QueuedEmailBackend().send_messages([message("Late")])
    row = EmailLog.objects.get()
    db_tasks.enqueue(delay(1.5))  # SES answers, but late.

    def worker():
        try:
            send_chunk([row.pk])
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    deadline = time.monotonic() + 30
    while not db_tasks.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    call_command("ses_queue", "--recover-stale", "0", stdout=io.StringIO())  # The worker looks lost.
    thread.join(30)

    row.refresh_from_db()
    assert (row.status, row.error_code, row.message_id) == ("unknown", "WorkerLost", "")
    assert len(db_tasks.sent) == 1  # Sent once, reported unknown: never failed, never resent.
