"""Faults, end to end: the backend against the local SES endpoint
(tests/fakeses.py) that throttles, fails, resets, stalls and answers garbage.

For each: a clear error or a success, the right EmailLog row (status,
error_code, attempts, http_status), nothing lost, and no second send where
the outcome was known (the endpoint's own count of requests and sends).
Backoff sleeps are recorded, never slept; nothing asserts on time.
"""

from __future__ import annotations


import pytest
from django.core.mail import EmailMessage

from django_ses_query.transport.retry import backoff_ceiling
from django_ses_query.exceptions import (
    SESError,
    SESMessageRejectedError,
    SESQuotaExceededError,
    SESResponseError,
    SESServerError,
    SESThrottlingError,
    SESTransportError,
)
from django_ses_query.models import EmailLog
from tests.sesclient import requests_seen
from tests.fakeses import (
    DTD_EXTERNAL,
    ENTITY_BOMB,
    HTML_502,
    NOT_XML,
    close_before_reading,
    delay,
    error,
    ok,
    raw,
    refused_endpoint,
    reset_connection,
    xml,
)

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])




def message(subject="Hello", to=("to@example.com",)):
    return EmailMessage(subject, "Body", "from@example.com", list(to))


def only_row() -> EmailLog:
    [row] = EmailLog.objects.all()
    return row


def assert_failed_row(msg, code, *, attempts, http_status=None, status=EmailLog.Status.FAILED):
    """The row of a message not sent, or (``status`` unknown) whose request
    may have been accepted: SES's answer never came, or could not be read."""
    row = only_row()
    assert msg.ses_log == row
    assert msg.ses_message_id is None
    assert (row.status, row.error_code, row.attempts, row.http_status) == (
        status, code, attempts, http_status,
    )
    assert row.error_message
    return row


def assert_sent_row(msg, fake_ses, *, attempts):
    row = only_row()
    [sent] = fake_ses.sent
    assert msg.ses_log == row
    assert msg.ses_message_id == sent.message_id == row.message_id
    assert (row.status, row.error_code, row.attempts, row.http_status) == (
        EmailLog.Status.SENT, "", attempts, None,
    )
    return row


# -- throttling ----------------------------------------------------------------------


@pytest.mark.parametrize("times", [1, 2, 3])
def test_throttled_n_times_then_accepted(make_backend, fake_ses, times):
    fake_ses.enqueue(*[error("Throttling_rate")] * times)
    backend = make_backend()
    msg = message()

    assert backend.send_messages([msg]) == 1

    assert_sent_row(msg, fake_ses, attempts=times + 1)
    assert len(fake_ses.requests) == times + 1
    assert backend.sleeps == [backoff_ceiling(n) for n in range(1, times + 1)]


def test_throttled_beyond_max_retries(make_backend, fake_ses):
    fake_ses.enqueue(*[error("Throttling_rate")] * 4)
    backend = make_backend(max_retries=3)
    msg = message()

    with pytest.raises(SESThrottlingError) as caught:
        backend.send_messages([msg])

    assert caught.value.attempts == 4
    assert_failed_row(msg, "Throttling", attempts=4, http_status=400)
    assert fake_ses.sent == []


def test_daily_quota_exceeded_is_not_retried(make_backend, fake_ses):
    fake_ses.enqueue(error("Throttling_daily"))
    backend = make_backend()
    msg = message()

    with pytest.raises(SESQuotaExceededError):
        backend.send_messages([msg])

    row = assert_failed_row(msg, "Throttling", attempts=1, http_status=400)
    assert "Daily message quota exceeded" in row.error_message
    assert len(fake_ses.requests) == 1
    assert backend.sleeps == []


def test_max_retries_zero(make_backend, fake_ses):
    fake_ses.enqueue(error("Throttling_rate"))
    backend = make_backend(max_retries=0)
    msg = message()

    with pytest.raises(SESThrottlingError):
        backend.send_messages([msg])

    assert_failed_row(msg, "Throttling", attempts=1, http_status=400)
    assert len(fake_ses.requests) == 1
    assert backend.sleeps == []


# -- server errors ----------------------------------------------------------------------


def test_503_burst_then_accepted(make_backend, fake_ses):
    fake_ses.enqueue(*[error("ServiceUnavailable")] * 3)
    backend = make_backend()
    msg = message()

    assert backend.send_messages([msg]) == 1

    assert_sent_row(msg, fake_ses, attempts=4)
    assert [r.status for r in fake_ses.requests] == [503, 503, 503, 200]


def test_503_burst_longer_than_the_retries(make_backend, fake_ses):
    fake_ses.enqueue(*[error("ServiceUnavailable")] * 4)
    backend = make_backend()
    msg = message()

    with pytest.raises(SESServerError):
        backend.send_messages([msg])

    assert_failed_row(msg, "ServiceUnavailable", attempts=4, http_status=503)
    assert len(fake_ses.requests) == 4
    assert fake_ses.sent == []


def test_500_internal_failure_is_retried(make_backend, fake_ses):
    fake_ses.enqueue(error("InternalFailure"))
    msg = message()
    assert make_backend().send_messages([msg]) == 1
    assert_sent_row(msg, fake_ses, attempts=2)


def test_html_502_from_a_proxy_is_retried_as_a_server_error(make_backend, fake_ses):
    fake_ses.enqueue(raw(502, HTML_502))
    msg = message()

    assert make_backend().send_messages([msg]) == 1

    assert_sent_row(msg, fake_ses, attempts=2)


def test_html_502_every_time(make_backend, fake_ses):
    fake_ses.enqueue(*[raw(502, HTML_502)] * 3)
    msg = message()

    with pytest.raises(SESServerError) as caught:
        make_backend(max_retries=2).send_messages([msg])

    assert "502 Bad Gateway" in caught.value.message
    assert_failed_row(msg, "HTTP502", attempts=3, http_status=502)


def test_504_plain_text_is_retried(make_backend, fake_ses):
    fake_ses.enqueue(raw(504, "upstream timed out", "text/plain"))
    msg = message()
    assert make_backend().send_messages([msg]) == 1
    assert_sent_row(msg, fake_ses, attempts=2)


# -- unknown outcomes ---------------------------------------------------------------------


def test_reset_after_the_request_was_read_is_not_resent(make_backend, fake_ses):
    fake_ses.enqueue(reset_connection())
    backend = make_backend()
    msg = message()

    with pytest.raises(SESTransportError) as caught:
        backend.send_messages([msg])

    assert caught.value.sent is True
    row = assert_failed_row(msg, "ConnectionReset", attempts=1, status=EmailLog.Status.UNKNOWN)
    assert "outcome is unknown" in row.error_message
    assert len(fake_ses.requests) == 1
    assert backend.sleeps == []


def test_reset_after_the_request_was_read_is_resent_when_opted_in(make_backend, fake_ses):
    fake_ses.enqueue(reset_connection())
    msg = message()

    assert make_backend(retry_unknown_outcome=True).send_messages([msg]) == 1

    assert_sent_row(msg, fake_ses, attempts=2)
    assert len(fake_ses.requests) == 2


def test_server_slower_than_timeout_is_not_resent(make_backend, fake_ses):
    fake_ses.enqueue(delay(2.0))
    backend = make_backend(timeout=0.2)
    msg = message()

    with pytest.raises(SESTransportError):
        backend.send_messages([msg])

    row = assert_failed_row(msg, "ReadTimeout", attempts=1, status=EmailLog.Status.UNKNOWN)
    assert "may have been sent" in row.error_message
    assert requests_seen(fake_ses, 1) == 1


def test_server_slower_than_timeout_is_resent_when_opted_in(make_backend, fake_ses):
    fake_ses.enqueue(delay(2.0))
    msg = message()

    assert make_backend(timeout=0.2, retry_unknown_outcome=True).send_messages([msg]) == 1

    row = only_row()
    assert (row.status, row.attempts) == (EmailLog.Status.SENT, 2)
    assert requests_seen(fake_ses, 2) == 2


def test_connection_dropped_before_the_request_was_read(make_backend, fake_ses):
    """The endpoint drops the connection unread; the client cannot know that,
    so it is reported like a reset after sending."""
    fake_ses.enqueue(close_before_reading())
    msg = message()

    with pytest.raises(SESTransportError):
        make_backend().send_messages([msg])

    assert_failed_row(msg, "ConnectionReset", attempts=1, status=EmailLog.Status.UNKNOWN)
    assert fake_ses.requests == []


# -- nothing sent --------------------------------------------------------------------------


def test_connection_refused_is_retried_then_a_clear_error(make_backend, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "ENDPOINT_URL": refused_endpoint()}
    backend = make_backend(max_retries=2)
    msg = message()

    with pytest.raises(SESTransportError) as caught:
        backend.send_messages([msg])

    assert caught.value.sent is False
    assert "refused" in str(caught.value)
    row = assert_failed_row(msg, "ConnectionRefused", attempts=3)
    assert "nothing was sent" in row.error_message
    assert backend.sleeps == [0.1, 0.2]


def test_connection_refused_fail_silently_still_logs(make_backend, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "ENDPOINT_URL": refused_endpoint()}
    msgs = [message("one"), message("two")]

    assert make_backend(max_retries=1, fail_silently=True).send_messages(msgs) == 0

    rows = EmailLog.objects.order_by("id")
    assert [(r.subject, r.status, r.error_code, r.attempts) for r in rows] == [
        ("one", "failed", "ConnectionRefused", 2),
        ("two", "failed", "ConnectionRefused", 2),
    ]


# -- answers that cannot be used ----------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, code, status",
    [
        (raw(200, NOT_XML, "text/plain"), "MalformedResponse", 200),
        (xml(200, b"<SendEmailResponse><unclosed>"), "MalformedResponse", 200),
        (xml(400, b"<ErrorResponse><Error><Code>"), "MalformedResponse", 400),
        (xml(200, ENTITY_BOMB), "UnsafeResponse", 200),
        (xml(400, ENTITY_BOMB), "UnsafeResponse", 400),
        (xml(200, DTD_EXTERNAL), "UnsafeResponse", 200),
    ],
    ids=["200-not-xml", "200-truncated", "400-truncated", "200-entity-bomb", "400-entity-bomb", "200-external-dtd"],
)
def test_unusable_answers_fail_once_with_a_clear_code(make_backend, fake_ses, answer, code, status):
    fake_ses.enqueue(answer)
    msg = message()

    with pytest.raises(SESResponseError):
        make_backend().send_messages([msg])

    # A 200 that cannot be read: SES may well have sent the message.
    outcome = EmailLog.Status.UNKNOWN if status == 200 else EmailLog.Status.FAILED
    assert_failed_row(msg, code, attempts=1, http_status=status, status=outcome)
    assert len(fake_ses.requests) == 1


def test_rejected_is_not_retried(make_backend, fake_ses):
    fake_ses.enqueue(error("MessageRejected"))
    msg = message()

    with pytest.raises(SESMessageRejectedError):
        make_backend().send_messages([msg])

    assert_failed_row(msg, "MessageRejected", attempts=1, http_status=400)
    assert len(fake_ses.requests) == 1


# -- the retry budget ------------------------------------------------------------------------


def test_retry_budget_exhausted(make_backend, fake_ses):
    fake_ses.enqueue(*[error("ServiceUnavailable")] * 5)
    backend = make_backend(max_retries=10, retry_budget=0.5)
    now = [0.0]
    backend.client._clock = lambda: now[0]

    def sleep(seconds):
        backend.sleeps.append(seconds)
        now[0] += seconds

    backend.client._sleep = sleep
    msg = message()

    with pytest.raises(SESServerError) as caught:
        backend.send_messages([msg])

    # Waits 0.1 + 0.2 = 0.3; the next (0.4) would end past 0.5.
    assert backend.sleeps == [0.1, 0.2]
    assert caught.value.attempts == 3
    assert_failed_row(msg, "ServiceUnavailable", attempts=3, http_status=503)
    assert len(fake_ses.requests) == 3


# -- several messages, sequentially ---------------------------------------------------------------


def test_a_fault_in_the_middle_of_a_batch_fail_silently(make_backend, fake_ses):
    fake_ses.enqueue(error("Throttling_rate"), ok(), raw(200, ""), reset_connection(), error("Throttling_daily"))
    msgs = [message(f"m{i}") for i in range(5)]

    # m0: throttled then sent; m1: empty 200; m2: reset; m3: quota; m4: sent.
    assert make_backend(fail_silently=True).send_messages(msgs) == 2

    rows = {r.subject: r for r in EmailLog.objects.all()}
    assert {s: (r.status, r.error_code, r.attempts) for s, r in rows.items()} == {
        "m0": ("sent", "", 2),
        "m1": ("unknown", "MalformedResponse", 1),
        "m2": ("unknown", "ConnectionReset", 1),
        "m3": ("failed", "Throttling", 1),
        "m4": ("sent", "", 1),
    }
    assert [m.ses_message_id for m in msgs] == [rows["m0"].message_id, None, None, None, rows["m4"].message_id]
    assert len(fake_ses.requests) == 6
    assert len(fake_ses.sent) == 2


def test_a_fault_in_the_middle_of_a_batch_raises_and_stops(make_backend, fake_ses):
    fake_ses.enqueue(error("Throttling_rate"), ok(), raw(200, "ok?", "text/plain"))
    msgs = [message(f"m{i}") for i in range(3)]

    with pytest.raises(SESResponseError):
        make_backend().send_messages(msgs)

    # m0: throttled, then sent; m1: unusable answer, stop; m2: never tried.
    assert [(r.subject, r.status, r.attempts) for r in EmailLog.objects.order_by("id")] == [
        ("m0", "sent", 2),
        ("m1", "unknown", 1),
    ]
    assert msgs[0].ses_message_id == fake_ses.sent[0].message_id
    assert [m.ses_message_id for m in msgs[1:]] == [None, None]
    assert msgs[2].ses_log is None
    assert len(fake_ses.requests) == 3


def test_errors_are_ses_errors(make_backend, fake_ses):
    fake_ses.enqueue(error("MessageRejected"))
    with pytest.raises(SESError):
        make_backend().send_messages([message()])
