"""SESClient: retries, backoff and unknown outcomes, against the local SES
endpoint (tests/fakeses.py).

Backoff sleeps are recorded, never slept; nothing here asserts on time.
"""

from __future__ import annotations

from unittest import mock

import pytest
import requests
import urllib3

from django_ses_query.transport import retry as retry_module
from django_ses_query.transport.retry import BACKOFF_CAP, backoff_ceiling, full_jitter
from django_ses_query.exceptions import (
    SESAuthenticationError,
    SESError,
    SESMessageRejectedError,
    SESQuotaExceededError,
    SESResponseError,
    SESServerError,
    SESThrottlingError,
    SESTransportError,
)
from tests.fakeses import (
    ENTITY_BOMB,
    HTML_502,
    NOT_XML,
    close_before_reading,
    delay,
    error,
    raw,
    reset_connection,
    xml,
)
from tests.sesclient import FakeClock, requests_seen, send


# -- backoff -----------------------------------------------------------------------


def test_backoff_ceiling_doubles_up_to_the_cap():
    assert [backoff_ceiling(n) for n in range(1, 9)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, BACKOFF_CAP, BACKOFF_CAP]
    )


def test_full_jitter_draws_between_zero_and_the_ceiling():
    with mock.patch.object(retry_module.random, "uniform", return_value=0.123) as uniform:
        assert full_jitter(0.4) == 0.123
    uniform.assert_called_once_with(0, 0.4)
    draws = [full_jitter(0.8) for _ in range(200)]
    assert all(0 <= d <= 0.8 for d in draws)
    assert len(set(draws)) > 1


def test_throttled_twice_then_accepted(make_client, fake_ses):
    fake_ses.enqueue(error("Throttling_rate"), error("Throttling_rate"))
    client = make_client()

    response = send(client)

    assert response.attempts == 3
    assert response.result.message_id == fake_ses.sent[0].message_id
    assert client.sleeps == pytest.approx([0.1, 0.2])
    assert [r.status for r in fake_ses.requests] == [400, 400, 200]
    assert len(fake_ses.sent) == 1


def test_default_jitter_waits_stay_under_each_ceiling(make_client, fake_ses):
    fake_ses.enqueue(*[error("ServiceUnavailable")] * 3)
    client = make_client(jitter=None)

    assert send(client).attempts == 4
    assert len(client.sleeps) == 3
    for attempt, slept in enumerate(client.sleeps, start=1):
        assert 0 <= slept <= backoff_ceiling(attempt)


def test_retries_exhausted(make_client, fake_ses):
    fake_ses.enqueue(*[error("Throttling_rate")] * 4)
    client = make_client(max_retries=3)

    with pytest.raises(SESThrottlingError) as caught:
        send(client)

    assert caught.value.attempts == 4
    assert caught.value.duration_ms is not None
    assert client.sleeps == pytest.approx([0.1, 0.2, 0.4])
    assert len(fake_ses.requests) == 4
    assert fake_ses.sent == []


def test_max_retries_zero_means_one_attempt(make_client, fake_ses):
    fake_ses.enqueue(error("Throttling_rate"))
    client = make_client(max_retries=0)

    with pytest.raises(SESThrottlingError) as caught:
        send(client)

    assert caught.value.attempts == 1
    assert client.sleeps == []
    assert len(fake_ses.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        error("Throttling_rate"),
        error("ServiceUnavailable"),
        error("InternalFailure"),
        raw(502, HTML_502),
        raw(504, "Gateway Timeout", "text/plain"),
        xml(500, "<Oops/>"),
        raw(503, NOT_XML, "text/plain"),
    ],
    ids=["throttling", "503-ServiceUnavailable", "500-InternalFailure", "502-html", "504-text",
         "500-xml-without-error", "503-not-xml"],
)
def test_retryable_answers_are_retried(make_client, fake_ses, answer):
    fake_ses.enqueue(answer)
    client = make_client()

    response = send(client)

    assert response.attempts == 2
    assert len(fake_ses.requests) == 2
    assert len(fake_ses.sent) == 1


@pytest.mark.parametrize(
    "answer, exception, code",
    [
        (error("Throttling_daily"), SESQuotaExceededError, "Throttling"),
        (error("MessageRejected"), SESMessageRejectedError, "MessageRejected"),
        (error("SignatureDoesNotMatch"), SESAuthenticationError, "SignatureDoesNotMatch"),
        (error("InvalidParameterValue"), SESError, "InvalidParameterValue"),
        (raw(200, NOT_XML, "text/plain"), SESResponseError, "MalformedResponse"),
        (xml(200, ENTITY_BOMB), SESResponseError, "UnsafeResponse"),
    ],
    ids=["daily-quota", "rejected", "signature", "invalid-parameter", "200-not-xml", "200-entity-bomb"],
)
def test_final_answers_are_not_retried(make_client, fake_ses, answer, exception, code):
    fake_ses.enqueue(answer)
    client = make_client()

    with pytest.raises(exception) as caught:
        send(client)

    assert caught.value.code == code
    assert caught.value.attempts == 1
    assert client.sleeps == []
    assert len(fake_ses.requests) == 1


def test_daily_quota_at_http_503_is_still_not_retried(make_client, fake_ses):
    from tests.fakeses import response_file

    fake_ses.enqueue(xml(503, response_file("error_Throttling_daily.xml")))
    client = make_client()

    with pytest.raises(SESQuotaExceededError):
        send(client)
    assert len(fake_ses.requests) == 1


def test_retry_budget_stops_retries(make_client, fake_ses):
    """0.25 s budget, ceilings as waits: after the first wait (0.1) the next
    (0.2) would start at 0.3, past the budget."""
    fake_ses.enqueue(*[error("ServiceUnavailable")] * 4)
    client = make_client(retry_budget=0.25, max_retries=5)
    clock = FakeClock()
    client._clock, client._sleep = clock, clock.sleep

    with pytest.raises(SESServerError) as caught:
        send(client)

    assert caught.value.attempts == 2
    assert len(fake_ses.requests) == 2
    assert caught.value.duration_ms == 100


def test_retry_budget_does_not_count_the_wait_for_the_rate(make_client, fake_ses, monkeypatch):
    fake_ses.enqueue(error("ServiceUnavailable"))
    client = make_client(retry_budget=0.25)
    clock = FakeClock()
    client._clock, client._sleep = clock, clock.sleep
    monkeypatch.setattr(client, "wait_for_rate", lambda n: clock.sleep(10))

    response = send(client, recipients=1)

    assert response.attempts == 2
    # 0.1 backoff + the second attempt's 10 s wait for the rate.
    assert response.duration_ms == 10100


# -- unknown outcomes ----------------------------------------------------------------


def test_reset_after_the_request_was_read_is_not_resent(make_client, fake_ses):
    fake_ses.enqueue(reset_connection())
    client = make_client()

    with pytest.raises(SESTransportError) as caught:
        send(client)

    assert caught.value.sent is True
    assert caught.value.code == "ConnectionReset"
    assert "outcome is unknown" in caught.value.message
    assert caught.value.attempts == 1
    assert len(fake_ses.requests) == 1


def test_reset_is_resent_when_opted_in(make_client, fake_ses):
    fake_ses.enqueue(reset_connection())
    client = make_client(retry_unknown_outcome=True)

    response = send(client)

    assert response.attempts == 2
    assert len(fake_ses.requests) == 2
    assert len(fake_ses.sent) == 1


def test_read_timeout_is_an_unknown_outcome(make_client, fake_ses):
    fake_ses.enqueue(delay(2.0))
    client = make_client(timeout=0.2)

    with pytest.raises(SESTransportError) as caught:
        send(client)

    assert caught.value.code == "ReadTimeout"
    assert caught.value.sent is True
    assert caught.value.attempts == 1
    assert requests_seen(fake_ses, 1) == 1


def test_read_timeout_is_resent_when_opted_in(make_client, fake_ses):
    fake_ses.enqueue(delay(2.0))
    client = make_client(timeout=0.2, retry_unknown_outcome=True)

    assert send(client).attempts == 2
    assert requests_seen(fake_ses, 2) == 2


def test_closed_before_reading_looks_like_a_reset_after_sending(make_client, fake_ses):
    """The endpoint never read this request, but the client cannot tell:
    what it sees is exactly what it sees after a reset once the request was
    read. So it is an unknown outcome too, and not resent."""
    fake_ses.enqueue(close_before_reading())
    client = make_client()

    with pytest.raises(SESTransportError) as closed:
        send(client)
    fake_ses.enqueue(reset_connection())
    with pytest.raises(SESTransportError) as reset:
        send(client)

    assert closed.value.sent is reset.value.sent is True
    assert closed.value.code == reset.value.code == "ConnectionReset"
    # Both are ConnectionError(ProtocolError('Connection aborted.', ...)),
    # with a ConnectionResetError or a RemoteDisconnected inside for either.
    for caught in (closed, reset):
        assert isinstance(caught.value.__cause__, requests.ConnectionError)
        assert isinstance(caught.value.__cause__.args[0], urllib3.exceptions.ProtocolError)
    assert [r.status for r in fake_ses.requests] == [None]  # Only the second was read.
