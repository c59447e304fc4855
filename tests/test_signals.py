"""pre_send and post_send, as a project's receivers see them."""

from __future__ import annotations

import logging
import threading

import pytest
from django.core.mail import EmailMessage

from django_ses_query.backend import EmailBackend
from django_ses_query.exceptions import (
    CancelSend,
    SESInvalidMessageError,
    SESMessageRejectedError,
    SESThrottlingError,
)
from django_ses_query.models import EmailLog
from django_ses_query.signals import post_send, pre_send
from tests.fakeses import error

pytestmark = pytest.mark.django_db


def message(subject="Hello", to="to@example.com"):
    return EmailMessage(subject, "Body", "from@example.com", [to])


@pytest.fixture
def receivers():
    """Connect receivers for one test: receivers.pre(fn), receivers.post(fn)."""
    connected = []

    class Receivers:
        def pre(self, fn):
            pre_send.connect(fn, weak=False)
            connected.append((pre_send, fn))
            return fn

        def post(self, fn):
            post_send.connect(fn, weak=False)
            connected.append((post_send, fn))
            return fn

    yield Receivers()
    for signal, fn in connected:
        signal.disconnect(fn)


@pytest.fixture
def post_calls(receivers):
    calls = []
    lock = threading.Lock()

    @receivers.post
    def record(sender, message, log, error, **kwargs):
        with lock:
            calls.append({"sender": sender, "message": message, "log": log, "error": error})

    return calls


# -- pre_send ----------------------------------------------------------------


def test_pre_send_gets_each_message_before_it_is_sent(receivers, backend, fake_ses):
    seen = []

    @receivers.pre
    def check(sender, message, **kwargs):
        seen.append((sender, message.subject, len(fake_ses.requests)))

    backend.send_messages([message("one")])
    assert seen == [(EmailBackend, "one", 0)]


def test_pre_send_may_change_the_message(receivers, backend, fake_ses):
    @receivers.pre
    def tag(sender, message, **kwargs):
        message.subject = f"[staging] {message.subject}"

    msg = message("Welcome")
    backend.send_messages([msg])
    assert fake_ses.sent[0].params["Message.Subject.Data"] == "[staging] Welcome"
    assert msg.ses_log.subject == "[staging] Welcome"


def test_cancel_send_skips_that_message_only(receivers, fake_ses, post_calls):
    @receivers.pre
    def block(sender, message, **kwargs):
        if message.to == ["blocked@example.com"]:
            raise CancelSend("on the block list")

    cancelled, kept = message("no", "blocked@example.com"), message("yes", "ok@example.com")
    sent = EmailBackend(max_concurrency=1).send_messages([cancelled, kept])

    assert sent == 1
    assert [r.params["Destination.ToAddresses.member.1"] for r in fake_ses.requests] == ["ok@example.com"]
    assert cancelled.ses_log is None and cancelled.ses_message_id is None
    assert list(EmailLog.objects.values_list("subject", flat=True)) == ["yes"]
    # post_send is for messages that were attempted.
    assert [c["message"] for c in post_calls] == [kept]


def test_cancel_send_of_every_message_sends_nothing_and_raises_nothing(receivers, fake_ses, caplog):
    @receivers.pre
    def block(sender, message, **kwargs):
        raise CancelSend("maintenance window")

    messages = [message(f"m{i}") for i in range(3)]
    with caplog.at_level(logging.INFO, logger="django_ses_query"):
        assert EmailBackend().send_messages(messages) == 0
    assert fake_ses.requests == []
    assert not EmailLog.objects.exists()
    assert any("maintenance window" in r.getMessage() for r in caplog.records)


def test_cancel_send_with_concurrent_sending(receivers, fake_ses):
    @receivers.pre
    def block_odd(sender, message, **kwargs):
        if int(message.subject) % 2:
            raise CancelSend

    messages = [message(str(i)) for i in range(6)]
    assert EmailBackend(max_concurrency=4).send_messages(messages) == 3
    assert sorted(r.params["Message.Subject.Data"] for r in fake_ses.sent) == ["0", "2", "4"]


def test_other_exceptions_from_pre_send_propagate(receivers, backend, fake_ses):
    @receivers.pre
    def broken(sender, message, **kwargs):
        raise RuntimeError("receiver bug")

    with pytest.raises(RuntimeError, match="receiver bug"):
        backend.send_messages([message(), message("never tried")])
    assert fake_ses.requests == []
    # Recorded first, as a failure.
    [row] = EmailLog.objects.all()
    assert (row.status, row.error_code, row.subject) == ("failed", "PreSendError", "Hello")
    assert "RuntimeError: receiver bug" in row.error_message


@pytest.mark.parametrize("concurrency", [1, 4])
def test_other_exceptions_from_pre_send_with_fail_silently_are_logged_and_the_batch_goes_on(
    receivers, fake_ses, post_calls, concurrency, caplog
):
    @receivers.pre
    def broken(sender, message, **kwargs):
        if message.subject == "bad":
            raise ValueError("cannot render")

    messages = [message("one"), message("bad"), message("three")]
    assert EmailBackend(fail_silently=True, max_concurrency=concurrency).send_messages(messages) == 2

    assert sorted(r.params["Message.Subject.Data"] for r in fake_ses.sent) == ["one", "three"]
    rows = {r.subject: r for r in EmailLog.objects.all()}
    assert (rows["bad"].status, rows["bad"].error_code) == ("failed", "PreSendError")
    assert "ValueError: cannot render" in rows["bad"].error_message
    [failed] = [c for c in post_calls if c["error"] is not None]
    assert failed["message"] is messages[1] and failed["error"].code == "PreSendError"
    assert "PreSendError" in caplog.text


def test_other_exceptions_from_pre_send_propagate_when_sending_concurrently(receivers, fake_ses):
    @receivers.pre
    def broken(sender, message, **kwargs):
        if message.subject == "bad":
            raise KeyError("missing")

    with pytest.raises(KeyError):
        EmailBackend(max_concurrency=4).send_messages([message("one"), message("bad"), message("three")])
    assert EmailLog.objects.get(subject="bad").error_code == "PreSendError"


# -- post_send ---------------------------------------------------------------


def test_post_send_after_a_send(backend, fake_ses, post_calls):
    msg = message()
    backend.send_messages([msg])
    [call] = post_calls
    assert call["sender"] is EmailBackend
    assert call["message"] is msg
    assert call["error"] is None
    assert call["log"] == EmailLog.objects.get() and call["log"].status == "sent"
    assert call["log"].message_id == fake_ses.sent[0].message_id == msg.ses_message_id


def test_post_send_after_a_failure(fake_ses, post_calls):
    fake_ses.enqueue(error("MessageRejected"))
    msg = message()
    with pytest.raises(SESMessageRejectedError) as raised:
        EmailBackend().send_messages([msg])
    [call] = post_calls
    assert call["error"] is raised.value
    assert call["log"].status == "failed" and call["log"].error_code == "MessageRejected"


def test_post_send_once_after_the_final_attempt(fake_ses, post_calls):
    fake_ses.enqueue(error("Throttling"), error("Throttling"))
    backend = EmailBackend(max_retries=4)
    backend.client._sleep = lambda seconds: None
    backend.send_messages([message()])
    assert len(fake_ses.requests) == 3
    [call] = post_calls
    assert call["error"] is None and call["log"].attempts == 3


def test_post_send_once_when_retries_run_out(fake_ses, post_calls):
    fake_ses.enqueue(*[error("Throttling")] * 3)
    backend = EmailBackend(max_retries=2, fail_silently=True)
    backend.client._sleep = lambda seconds: None
    assert backend.send_messages([message()]) == 0
    [call] = post_calls
    assert isinstance(call["error"], SESThrottlingError)
    assert call["log"].attempts == 3


def test_post_send_for_a_message_refused_before_sending(backend, fake_ses, post_calls):
    msg = message(to="not an address")
    with pytest.raises(SESInvalidMessageError):
        backend.send_messages([msg])
    [call] = post_calls
    assert call["error"].code == "InvalidAddress"
    assert call["log"].status == "failed"
    assert fake_ses.requests == []


def test_post_send_once_per_message_when_sending_concurrently(fake_ses, post_calls):
    fake_ses.enqueue(error("MessageRejected"))
    messages = [message(f"m{i}") for i in range(8)]
    assert EmailBackend(max_concurrency=4, fail_silently=True).send_messages(messages) == 7
    assert sorted(c["message"].subject for c in post_calls) == sorted(m.subject for m in messages)
    assert sum(c["error"] is not None for c in post_calls) == 1
    for call in post_calls:
        assert call["log"] == call["message"].ses_log


def test_post_send_log_is_none_when_logging_is_off(fake_ses, post_calls):
    EmailBackend(log=False).send_messages([message()])
    [call] = post_calls
    assert call["log"] is None and call["error"] is None


def test_failing_post_send_receiver_does_not_fail_the_send(receivers, backend, fake_ses, caplog):
    @receivers.post
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    msg = message()
    with caplog.at_level(logging.ERROR, logger="django_ses_query"):
        assert backend.send_messages([msg]) == 1
    assert msg.ses_message_id == fake_ses.sent[0].message_id
    assert any("post_send" in r.getMessage() for r in caplog.records)
