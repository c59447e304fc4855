"""The send log of a batch, written in groups (LOG_COMMIT_ROWS,
LOG_COMMIT_SECONDS): every row committed before send_messages() returns,
post_send once a message's row is written."""

from __future__ import annotations

import logging

import pytest
from django.core.mail import EmailMessage
from django.db import transaction

from django_ses_query.backend import EmailBackend
from django_ses_query.conf import get_config
from django_ses_query.exceptions import SESMessageRejectedError
from django_ses_query.sending.logwriter import LogWriter, insert_rows
from django_ses_query.models import EmailLog
from django_ses_query.sending.sendlog import log_row
from django_ses_query.signals import post_send
from tests.fakeses import error, ok

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])


class Rollback(Exception):
    pass


def messages(n: int) -> list[EmailMessage]:
    return [EmailMessage(f"Message {i}", "Body", "from@example.com", [f"to{i}@example.com"]) for i in range(n)]


@pytest.fixture
def seen():
    """For each post_send: (subject, the row's pk, rows in the table then,
    the error's code)."""
    calls = []

    def receiver(sender, message, log, error, **kwargs):
        calls.append((message.subject, log.pk if log is not None else None,
                      EmailLog.objects.count(), error.code if error else None))

    post_send.connect(receiver)
    yield calls
    post_send.disconnect(receiver)


def test_rows_are_written_in_groups_and_post_send_follows_each_group(fake_ses, seen):
    batch = messages(10)
    assert EmailBackend(log_commit_rows=4, log_commit_seconds=3600).send_messages(batch) == 10

    assert [count for _, _, count, _ in seen] == [4] * 4 + [8] * 4 + [10] * 2
    assert [subject for subject, *_ in seen] == [m.subject for m in batch]
    rows = {row.pk: row for row in EmailLog.objects.all()}
    assert len(rows) == 10
    for msg, (_, pk, _, _) in zip(batch, seen):
        assert msg.ses_log.pk == pk and rows[pk].message_id == msg.ses_message_id


def test_one_row_per_commit_with_log_commit_rows_1(fake_ses, seen):
    assert EmailBackend(log_commit_rows=1).send_messages(messages(3)) == 3
    assert [count for _, _, count, _ in seen] == [1, 2, 3]


def test_a_failure_raised_after_every_row_is_written(fake_ses, seen):
    fake_ses.enqueue(ok(), ok(), error("MessageRejected"))
    batch = messages(5)
    with pytest.raises(SESMessageRejectedError):
        EmailBackend(log_commit_rows=100).send_messages(batch)

    # The batch stopped at the failure; its three rows were written first.
    assert [(count, code) for _, _, count, code in seen] == [(3, None), (3, None), (3, "MessageRejected")]
    assert EmailLog.objects.filter(status="failed").get().pk == batch[2].ses_log.pk
    assert [m.ses_log for m in batch[3:]] == [None, None]


def test_concurrent_batch_writes_every_row(fake_ses, seen):
    fake_ses.enqueue(error("MessageRejected"))
    batch = messages(12)
    assert EmailBackend(fail_silently=True, max_concurrency=4, log_commit_rows=5).send_messages(batch) == 11

    assert EmailLog.objects.count() == 12 == len(seen)
    assert all(pk is not None for _, pk, _, _ in seen)
    assert {m.ses_log.pk for m in batch} == set(EmailLog.objects.values_list("pk", flat=True))


def test_post_send_keeps_the_order_when_only_failures_are_logged(fake_ses, seen):
    fake_ses.enqueue(ok(), error("MessageRejected"))
    batch = messages(4)
    assert EmailBackend(fail_silently=True, log="failures", log_commit_rows=100).send_messages(batch) == 3

    assert [subject for subject, *_ in seen] == [m.subject for m in batch]
    assert [pk is not None for _, pk, _, _ in seen] == [False, True, False, False]


@pytest.mark.django_db(databases=["default", "sendlog"], transaction=True)
def test_grouped_rows_on_their_own_connection_survive_the_callers_rollback(fake_ses):
    batch = messages(7)
    with pytest.raises(Rollback):
        with transaction.atomic():
            EmailBackend(log_database="sendlog", log_commit_rows=3).send_messages(batch)
            raise Rollback
    assert EmailLog.objects.using("sendlog").count() == 7


def test_a_row_that_cannot_be_written_loses_only_itself(fake_ses, caplog):
    config = get_config()
    rows = [log_row(config, m, None, message_id=f"id-{i}") for i, m in enumerate(messages(3))]
    rows[1].tags = {"not JSON": object()}  # the group's insert fails on it

    with caplog.at_level(logging.ERROR, logger="django_ses_query"):
        written = insert_rows(config, rows)

    assert written[0] is rows[0] and written[1] is None and written[2] is rows[2]
    assert sorted(EmailLog.objects.values_list("message_id", flat=True)) == ["id-0", "id-2"]
    [record] = [r for r in caplog.records if "send log" in r.getMessage()]
    assert "id-1" in record.getMessage()


def test_log_writer_commits_on_its_clock():
    """LOG_COMMIT_SECONDS counts from the oldest row waiting."""
    now = [0.0]
    done = []
    config = get_config(log_commit_rows=100, log_commit_seconds=0.5)
    writer = LogWriter(config, lambda message, log, error: done.append(message.subject), clock=lambda: now[0])
    first, second, third = messages(3)

    writer.add(first, log_row(config, first, None))
    assert writer.timeout() == 0.5 and done == []
    now[0] = 0.4
    writer.add(second, log_row(config, second, None))
    assert writer.timeout() == pytest.approx(0.1) and done == []
    now[0] = 0.5
    writer.flush_if_due()
    assert done == ["Message 0", "Message 1"] and writer.timeout() is None
    writer.add(third, None)  # nothing waiting: reported at once
    assert done == ["Message 0", "Message 1", "Message 2"]
    assert EmailLog.objects.count() == 2
