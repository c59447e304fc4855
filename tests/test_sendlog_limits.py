"""The send log row is always stored, even on PostgreSQL, which refuses NUL
characters in text and JSON and enforces column lengths: NULs are removed,
over-long values cut to the column, and the change is said (logger warning,
and a note in a failed row's error message). Run with SES_QUERY_TEST_POSTGRES
to check it on PostgreSQL."""

from __future__ import annotations

import logging

import pytest
from django.core.mail import EmailMessage

from django_ses_query.backend import EmailBackend
from django_ses_query.models import EmailLog
from tests.fakeses import ok, xml

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])


def error_body(code: str, message: str, request_id: str = "req-1") -> str:
    return (
        '<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )


def test_nul_in_subject_and_address_of_a_failed_message(fake_ses, caplog):
    message = EmailMessage("Sub\x00ject", "Bo\x00dy", "from@example.com", ["t\x00o@example.com"])
    with caplog.at_level(logging.WARNING, logger="django_ses_query"):
        assert EmailBackend(fail_silently=True, log_body=True).send_messages([message]) == 0
    row = EmailLog.objects.get()
    # Refused before sending (SES would refuse it too), and logged.
    assert fake_ses.requests == []
    assert (row.status, row.error_code) == (EmailLog.Status.FAILED, "InvalidAddress")
    assert row.subject == "Subject"
    assert row.to == ["to@example.com"]
    assert row.text_body == "Body"
    assert "NUL characters removed from subject" in row.error_message
    assert "NUL characters removed from to" in caplog.text


def test_nul_and_over_long_values_from_ses(fake_ses, settings, caplog):
    settings.SES_QUERY = {**settings.SES_QUERY, "REGION": "r" * 40}
    fake_ses.enqueue(xml(400, error_body("E" * 200, "Bad thing", "q" * 300)))
    with caplog.at_level(logging.WARNING, logger="django_ses_query"):
        assert EmailBackend(fail_silently=True).send_messages(
            [EmailMessage("s", "b", "from@example.com", ["to@example.com"])]
        ) == 0
    row = EmailLog.objects.get()
    assert row.error_code == "E" * 128
    assert row.region == "r" * 32
    assert row.request_id == "q" * 128
    assert "error_code cut from 200 to 128 characters" in row.error_message
    assert "region cut from 40 to 32 characters" in caplog.text


def test_an_over_long_message_id_of_a_sent_message_is_kept_as_far_as_it_fits(fake_ses, caplog):
    fake_ses.enqueue(ok("m" * 300))
    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"], headers={"X-SES-MESSAGE-TAGS": "a=b"})
    with caplog.at_level(logging.WARNING, logger="django_ses_query"):
        assert EmailBackend().send_messages([message]) == 1
    row = EmailLog.objects.get()
    assert (row.status, row.message_id) == (EmailLog.Status.SENT, "m" * 128)
    assert row.error_message == ""
    assert "message_id cut from 300 to 128 characters" in caplog.text
    assert message.ses_message_id == "m" * 300  # The caller gets SES's answer as it was.


def test_a_nul_from_elsewhere_never_stops_the_row(fake_ses):
    from django_ses_query.conf import get_config
    from django_ses_query.sending.sendlog import write_log

    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"])
    message.extra_headers = {}
    config = get_config()
    row = write_log(config, message, None, error=None, message_id="id\x00")
    assert row is not None and row.message_id == "id"


@pytest.mark.parametrize("subject", ["Sub\x00ject", "Sub\x1bject"])
def test_control_characters_in_a_subject_are_refused_before_sending(fake_ses, subject):
    message = EmailMessage(subject, "b", "from@example.com", ["to@example.com"])
    assert EmailBackend(fail_silently=True).send_messages([message]) == 0
    assert fake_ses.requests == []
    row = EmailLog.objects.get()
    assert (row.error_code, row.subject) == ("InvalidHeader", subject.replace("\x00", ""))


def test_a_lone_surrogate_from_elsewhere_is_replaced(fake_ses, caplog):
    from django_ses_query.conf import get_config
    from django_ses_query.sending.sendlog import write_log

    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"])
    with caplog.at_level(logging.WARNING, logger="django_ses_query"):
        row = write_log(get_config(), message, None, error=None, message_id="id\ud800")
    assert row is not None
    row.refresh_from_db()
    assert row.message_id == "id\ufffd"
    assert "lone surrogates replaced in message_id" in caplog.text
