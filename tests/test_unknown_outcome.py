"""An unknown outcome is recorded as such: a send whose request was written
but whose answer never came (a read timeout, a reset, an unreadable 200, a
worker stopped by KeyboardInterrupt or SystemExit) gets an ``unknown`` row,
never ``failed``: SES may have sent the message."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from django.core.mail import EmailMessage

from django_ses_query.backend import EmailBackend
from django_ses_query.exceptions import SESTransportError
from django_ses_query.models import EmailLog
from django_ses_query.signals import pre_send
from tests.fakeses import delay, raw, reset_connection

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])


def message(subject="Hello"):
    return EmailMessage(subject, "Body", "from@example.com", ["to@example.com"])


def signal_main_thread_once_received(fake_ses, signum: int) -> threading.Thread:
    """Deliver ``signum`` to this (the main) thread once the endpoint has read
    a request: the send is then blocked waiting for the answer."""
    main = threading.main_thread().ident

    def deliver():
        deadline = time.monotonic() + 10
        while not fake_ses.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        signal.pthread_kill(main, signum)

    thread = threading.Thread(target=deliver, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    "answer,code",
    [(reset_connection(), "ConnectionReset"), (raw(200, "", "text/xml"), "MalformedResponse")],
    ids=["reset", "unreadable-200"],
)
def test_unknown_outcome_rows(fake_ses, answer, code):
    fake_ses.enqueue(answer)
    msg = message()
    assert EmailBackend(fail_silently=True).send_messages([msg]) == 0
    row = EmailLog.objects.get()
    assert (row.status, row.error_code) == (EmailLog.Status.UNKNOWN, code)
    assert msg.ses_log == row
    assert "may have been sent" in row.error_message or row.http_status == 200


def test_read_timeout_is_unknown(fake_ses, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "TIMEOUT": 0.2}
    fake_ses.enqueue(delay(5))
    with pytest.raises(SESTransportError) as caught:
        EmailBackend().send_messages([message()])
    assert caught.value.may_have_been_sent
    row = EmailLog.objects.get()
    assert (row.status, row.error_code) == (EmailLog.Status.UNKNOWN, "ReadTimeout")


def test_keyboard_interrupt_after_the_request_was_written(fake_ses):
    fake_ses.enqueue(delay(5))
    thread = signal_main_thread_once_received(fake_ses, signal.SIGINT)
    msg = message()
    with pytest.raises(KeyboardInterrupt):
        EmailBackend().send_messages([msg, message("never tried")])
    thread.join()
    [row] = EmailLog.objects.all()
    assert (row.status, row.error_code, row.subject) == (EmailLog.Status.UNKNOWN, "Interrupted", "Hello")
    assert "KeyboardInterrupt" in row.error_message
    assert msg.ses_log == row and msg.ses_message_id is None


def test_system_exit_after_the_request_was_written(fake_ses):
    def stop(signum, frame):
        raise SystemExit(1)

    previous = signal.signal(signal.SIGTERM, stop)  # As a worker would on SIGTERM.
    try:
        fake_ses.enqueue(delay(5))
        thread = signal_main_thread_once_received(fake_ses, signal.SIGTERM)
        with pytest.raises(SystemExit):
            EmailBackend(fail_silently=True).send_messages([message()])
        thread.join()
    finally:
        signal.signal(signal.SIGTERM, previous)
    row = EmailLog.objects.get()
    assert (row.status, row.error_code) == (EmailLog.Status.UNKNOWN, "Interrupted")
    assert "SystemExit" in row.error_message


def test_interrupted_before_anything_was_written_leaves_no_row(fake_ses):
    def interrupt(sender, message, **kwargs):
        raise KeyboardInterrupt

    pre_send.connect(interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            EmailBackend().send_messages([message()])
    finally:
        pre_send.disconnect(interrupt)
    assert fake_ses.requests == []
    assert not EmailLog.objects.exists()
