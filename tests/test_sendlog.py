"""The send log: one row per message the backend attempts, written so that
it never turns a sent email into a failure."""

from __future__ import annotations

import base64
import logging

import pytest
from django.contrib.auth.models import Group
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import connections, transaction

from django_ses_query.backend import EmailBackend
from django_ses_query.exceptions import SESInvalidMessageError, SESMessageRejectedError
from django_ses_query.models import EmailLog
from tests.fakeses import error

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])

TABLE = EmailLog._meta.db_table


class Rollback(Exception):
    pass


def message(subject="Hello", to=("to@example.com",), **kwargs):
    return EmailMessage(subject, "Plain body", "Sender <from@example.com>", list(to), **kwargs)


def field_values(row: EmailLog) -> str:
    return " ".join(str(getattr(row, f.attname)) for f in EmailLog._meta.concrete_fields)


# -- What a row records ----------------------------------------------------


def test_row_for_a_sent_message(backend, fake_ses):
    msg = message(
        "Quarterly report",
        to=["alice@example.com", "Bob <bob@example.com>"],
        cc=["carol@example.com"],
        bcc=["dave@example.com"],
        reply_to=["replies@example.com"],
        headers={"X-SES-CONFIGURATION-SET": "reports", "X-SES-MESSAGE-TAGS": "kind=report"},
    )
    assert backend.send_messages([msg]) == 1

    request = fake_ses.sent[0]
    row = EmailLog.objects.get()
    assert msg.ses_log == row
    assert row.status == EmailLog.Status.SENT
    assert row.message_id == request.message_id == msg.ses_message_id
    assert len(row.request_id) == 36
    assert row.action == "SendEmail"
    assert row.from_email == "Sender <from@example.com>"
    assert row.to == ["alice@example.com", "Bob <bob@example.com>"]
    assert (row.cc, row.bcc, row.reply_to) == (["carol@example.com"], ["dave@example.com"], ["replies@example.com"])
    assert row.subject == "Quarterly report"
    assert row.configuration_set == "reports" and row.tags == {"kind": "report"}
    assert row.attempts == 1 and row.duration_ms is not None and row.duration_ms >= 0
    assert row.size_bytes == len(request.body)
    assert row.region == "us-east-1"
    assert (row.error_code, row.error_message, row.http_status) == ("", "", None)
    # LOG_BODY is off by default.
    assert (row.text_body, row.html_body) == ("", "")


def test_row_for_a_failed_message(fake_ses):
    fake_ses.enqueue(error("MessageRejected"))
    msg = message("Rejected")
    with pytest.raises(SESMessageRejectedError):
        EmailBackend().send_messages([msg])

    row = EmailLog.objects.get()
    assert msg.ses_log == row and msg.ses_message_id is None
    assert row.status == EmailLog.Status.FAILED
    assert row.error_code == "MessageRejected"
    assert row.error_message.startswith("Email address is not verified.")
    assert row.http_status == 400
    assert row.request_id == "158e381e-f178-4a80-903b-e21d6e67669c"
    assert row.message_id == ""
    assert row.action == "SendEmail" and row.subject == "Rejected" and row.to == ["to@example.com"]
    assert row.attempts == 1


def test_row_counts_every_attempt(fake_ses):
    fake_ses.enqueue(error("Throttling"), error("Throttling"))
    msg = message()
    backend = EmailBackend(max_retries=3)
    backend.client._sleep = lambda seconds: None
    assert backend.send_messages([msg]) == 1
    assert msg.ses_log.attempts == 3 and msg.ses_log.status == "sent"


def test_row_for_a_message_refused_before_sending(backend, fake_ses):
    msg = message(to=["not an address"])
    with pytest.raises(SESInvalidMessageError):
        backend.send_messages([msg])
    assert fake_ses.requests == []
    row = EmailLog.objects.get()
    assert msg.ses_log == row
    assert row.status == "failed" and row.action == "" and row.attempts == 0
    assert row.error_code == "InvalidAddress" and "not an address" in row.error_message
    assert row.to == ["not an address"] and row.subject == "Hello"


def test_one_row_per_message_when_sending_concurrently(fake_ses):
    fake_ses.enqueue(error("MessageRejected"))
    messages = [message(f"Message {i}") for i in range(6)]
    backend = EmailBackend(fail_silently=True, max_concurrency=4)
    assert backend.send_messages(messages) == 5

    assert EmailLog.objects.count() == 6
    for msg in messages:
        row = EmailLog.objects.get(subject=msg.subject)
        assert msg.ses_log == row
        assert row.status == ("sent" if msg.ses_message_id else "failed")
        assert row.message_id == (msg.ses_message_id or "")
    assert EmailLog.objects.filter(status="failed").count() == 1
    assert sorted(EmailLog.objects.exclude(message_id="").values_list("message_id", flat=True)) == sorted(
        r.message_id for r in fake_ses.sent
    )


# -- LOG -------------------------------------------------------------------


@pytest.mark.parametrize("how", ["setting", "kwarg"])
def test_log_off(fake_ses, settings, how):
    fake_ses.enqueue(error("MessageRejected"))
    if how == "setting":
        settings.SES_QUERY = {**settings.SES_QUERY, "LOG": False}
        backend = EmailBackend(fail_silently=True)
    else:
        backend = EmailBackend(fail_silently=True, log=False)
    sent, failed = message("sent"), message("failed")
    assert backend.send_messages([failed]) == 0
    assert backend.send_messages([sent]) == 1
    assert not EmailLog.objects.exists()
    assert sent.ses_log is None and failed.ses_log is None
    assert sent.ses_message_id == fake_ses.sent[0].message_id


@pytest.mark.parametrize("how", ["setting", "kwarg"])
def test_log_failures_only(fake_ses, settings, how):
    fake_ses.enqueue(error("MessageRejected"))
    if how == "setting":
        settings.SES_QUERY = {**settings.SES_QUERY, "LOG": "failures"}
        backend = EmailBackend(fail_silently=True)
    else:
        backend = EmailBackend(fail_silently=True, log="failures")
    failed, sent = message("failed"), message("sent")
    assert backend.send_messages([failed]) == 0
    assert backend.send_messages([sent]) == 1
    row = EmailLog.objects.get()
    assert row.subject == "failed" and row.status == "failed"
    assert failed.ses_log == row and sent.ses_log is None


# -- LOG_BODY --------------------------------------------------------------


@pytest.mark.parametrize("how", ["setting", "kwarg"])
def test_log_body_keeps_text_and_html_never_attachments(fake_ses, settings, how):
    if how == "setting":
        settings.SES_QUERY = {**settings.SES_QUERY, "LOG_BODY": True}
        backend = EmailBackend()
    else:
        backend = EmailBackend(log_body=True)
    msg = EmailMultiAlternatives("Report", "The text body.", "from@example.com", ["to@example.com"])
    msg.attach_alternative("<p>The <b>HTML</b> body.</p>", "text/html")
    msg.attach("secret.txt", "ATTACHMENT-CONTENT-XYZ", "text/plain")
    msg.attach("data.bin", b"\x00BINARY-ATTACHMENT\xff", "application/octet-stream")
    assert backend.send_messages([msg]) == 1

    row = EmailLog.objects.get()
    assert row.action == "SendRawEmail"
    assert row.text_body == "The text body."
    assert row.html_body == "<p>The <b>HTML</b> body.</p>"
    assert "ATTACHMENT-CONTENT-XYZ" not in field_values(row)
    assert "BINARY-ATTACHMENT" not in field_values(row)
    # The attachments were sent all the same.
    raw = base64.b64decode(fake_ses.sent[0].params["RawMessage.Data"])
    assert b'filename="secret.txt"' in raw and b'filename="data.bin"' in raw


def test_log_body_for_an_html_only_message(fake_ses):
    msg = EmailMessage("Hi", "<h1>Only HTML</h1>", "from@example.com", ["to@example.com"])
    msg.content_subtype = "html"
    EmailBackend(log_body=True).send_messages([msg])
    row = EmailLog.objects.get()
    assert (row.text_body, row.html_body) == ("", "<h1>Only HTML</h1>")


def test_bodies_not_logged_by_default(backend, fake_ses):
    msg = EmailMultiAlternatives("Hi", "Text here", "from@example.com", ["to@example.com"])
    msg.attach_alternative("<p>HTML here</p>", "text/html")
    backend.send_messages([msg])
    row = EmailLog.objects.get()
    assert "Text here" not in field_values(row) and "HTML here" not in field_values(row)


# -- LOG_DATABASE: the row survives a rollback of the caller's transaction --


@pytest.mark.django_db(databases=["default", "sendlog"], transaction=True)
def test_row_on_its_own_connection_survives_the_callers_rollback(fake_ses):
    backend = EmailBackend(log_database="sendlog")
    msg = message("Sent inside a transaction")
    with pytest.raises(Rollback):
        with transaction.atomic():
            Group.objects.create(name="rolled back")
            assert backend.send_messages([msg]) == 1
            raise Rollback
    assert not Group.objects.exists()
    row = EmailLog.objects.using("sendlog").get()
    assert row.pk == msg.ses_log.pk and row.message_id == fake_ses.sent[0].message_id


@pytest.mark.django_db(databases=["default", "sendlog"], transaction=True)
def test_row_on_the_callers_connection_is_rolled_back_with_it(fake_ses):
    backend = EmailBackend(log_database="default")
    msg = message("Sent inside a transaction")
    with pytest.raises(Rollback):
        with transaction.atomic():
            assert backend.send_messages([msg]) == 1
            assert EmailLog.objects.filter(pk=msg.ses_log.pk).exists()
            raise Rollback
    assert not EmailLog.objects.exists()
    assert len(fake_ses.sent) == 1


@pytest.mark.django_db(databases=["default", "sendlog"], transaction=True)
def test_log_database_from_the_setting(fake_ses, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "LOG_DATABASE": "sendlog"}
    msg = message()
    with pytest.raises(Rollback):
        with transaction.atomic():
            EmailBackend().send_messages([msg])
            raise Rollback
    assert EmailLog.objects.using("sendlog").filter(message_id=msg.ses_message_id).exists()


# -- A log that cannot be written ------------------------------------------


@pytest.fixture
def sendlog_table_dropped():
    """The send log table is missing on the "sendlog" database (restored
    after). Renamed away rather than dropped: other tables' foreign keys
    (EmailEvent.log) follow it, and PostgreSQL would refuse the drop."""
    conn = connections["sendlog"]
    # Renamed away, not dropped: other tables' foreign keys point at it.
    with conn.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {conn.ops.quote_name(TABLE)} RENAME TO {conn.ops.quote_name(TABLE + '_away')}")
    try:
        yield
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {conn.ops.quote_name(TABLE + '_away')} RENAME TO {conn.ops.quote_name(TABLE)}")


def log_errors(caplog):
    return [r for r in caplog.records if r.name == "django_ses_query" and "send log" in r.getMessage()]


@pytest.mark.django_db(databases=["default", "sendlog"], transaction=True)
def test_sent_message_still_counts_when_the_log_cannot_be_written(fake_ses, sendlog_table_dropped, caplog):
    msg = message("Still sent")
    with caplog.at_level(logging.ERROR, logger="django_ses_query"):
        assert EmailBackend(log_database="sendlog").send_messages([msg]) == 1

    assert len(fake_ses.sent) == 1
    assert msg.ses_message_id == fake_ses.sent[0].message_id
    assert msg.ses_log is None
    [record] = log_errors(caplog)
    assert record.levelno == logging.ERROR
    assert msg.ses_message_id in record.getMessage()
    assert "Still sent" in record.getMessage()


@pytest.mark.django_db(databases=["default", "sendlog"], transaction=True)
def test_failed_message_raises_its_ses_error_when_the_log_cannot_be_written(fake_ses, sendlog_table_dropped, caplog):
    fake_ses.enqueue(error("MessageRejected"))
    msg = message()
    with caplog.at_level(logging.ERROR, logger="django_ses_query"):
        with pytest.raises(SESMessageRejectedError):
            EmailBackend(log_database="sendlog").send_messages([msg])
    assert msg.ses_log is None
    assert len(log_errors(caplog)) == 1


def test_failed_log_write_leaves_the_callers_transaction_usable(fake_ses, caplog):
    """The row is written in a savepoint: a failed insert on the caller's
    own connection does not break the caller's transaction."""
    conn = connections["default"]
    msg = message()
    with pytest.raises(Rollback):
        with transaction.atomic():
            Group.objects.create(name="before")
            with conn.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {conn.ops.quote_name(TABLE)} RENAME TO {conn.ops.quote_name(TABLE + '_away')}")
            with caplog.at_level(logging.ERROR, logger="django_ses_query"):
                assert EmailBackend(log_database="default").send_messages([msg]) == 1
            Group.objects.create(name="after")
            assert Group.objects.count() == 2
            raise Rollback
    assert msg.ses_log is None and msg.ses_message_id
    assert msg.ses_message_id in log_errors(caplog)[0].getMessage()
    # The rollback brought the table back.
    assert EmailLog.objects.count() == 0


def test_unknown_log_database_is_reported_not_raised(fake_ses, caplog):
    msg = message()
    with caplog.at_level(logging.ERROR, logger="django_ses_query"):
        assert EmailBackend(log_database="no-such-alias").send_messages([msg]) == 1
    assert msg.ses_log is None
    assert msg.ses_message_id in log_errors(caplog)[0].getMessage()
