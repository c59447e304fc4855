"""Suppression on every send path: with ``SUPPRESSION`` on, an address on the
list leaves the envelope at the moment the request is sent, whichever way the
message goes: ``EmailBackend``, the queued worker, a resent row, and
``ses_sendtestemail``. All four go through the one send pipeline."""

from __future__ import annotations

import base64
import io

import pytest
from django.core.mail import EmailMessage
from django.core.management import CommandError, call_command

from django_ses_query.backend import EmailBackend, QueuedEmailBackend
from django_ses_query.models import EmailLog, Suppression
from django_ses_query.queued.recovery import resend
from django_ses_query.queued.worker import send_row
from tests.fakeses import error

pytestmark = pytest.mark.django_db

KEPT, GONE = "kept@example.com", "gone@example.com"


@pytest.fixture
def suppression(settings, fake_ses):
    settings.SES_QUERY = {**settings.SES_QUERY, "SUPPRESSION": True}
    return fake_ses


def suppress(address: str) -> None:
    Suppression.objects.create(address=address, reason=Suppression.Reason.COMPLAINT)


def message(*to, subject="Hello", **kwargs):
    return EmailMessage(subject=subject, body="Body", from_email="from@example.com", to=list(to), **kwargs)


def envelope(request) -> list[str]:
    return [value for name, value in request.params.items() if ".member." in name and "Address" in name]


def queue_without_a_worker(settings, *messages):
    """Rows queued with their tasks kept in the database (no worker runs them)."""
    settings.SES_QUERY = {**settings.SES_QUERY, "TASK_BACKEND": "db"}
    QueuedEmailBackend().send_messages(list(messages))
    return list(EmailLog.objects.order_by("pk"))


def test_direct_send_drops_a_suppressed_recipient(suppression):
    suppress(GONE)
    sent = message(KEPT, GONE)
    assert EmailBackend().send_messages([sent]) == 1
    [request] = suppression.sent
    assert envelope(request) == [KEPT]
    row = EmailLog.objects.get()
    assert (row.status, row.suppressed) == ("sent", [GONE])


def test_the_worker_drops_an_address_suppressed_while_the_row_waited(suppression, settings):
    [row] = queue_without_a_worker(settings, message(KEPT, GONE, cc=["cc@example.com"]))
    assert GONE in row.request_body.replace("%40", "@")  # Nobody was suppressed when it was queued.
    suppress(GONE)
    assert send_row(row.pk) == "sent"
    [request] = suppression.sent
    assert request.params["Destination.ToAddresses.member.1"] == KEPT
    assert "Destination.ToAddresses.member.2" not in request.params
    assert request.params["Destination.CcAddresses.member.1"] == "cc@example.com"
    row.refresh_from_db()
    assert (row.status, row.suppressed) == ("sent", [GONE])


def test_the_worker_renumbers_a_raw_message_envelope(suppression, settings):
    raw = message(GONE, KEPT, "other@example.com", headers={"X-Custom": "yes"})
    raw.attach("a.txt", "attached", "text/plain")
    [row] = queue_without_a_worker(settings, raw)
    suppress(GONE)
    assert send_row(row.pk) == "sent"
    [request] = suppression.sent
    assert request.action == "SendRawEmail"
    assert [request.params[f"Destinations.member.{i}"] for i in (1, 2)] == [KEPT, "other@example.com"]
    assert "Destinations.member.3" not in request.params
    assert GONE in base64.b64decode(request.params["RawMessage.Data"]).decode()  # The MIME headers stay as written.


def test_a_queued_row_left_with_nobody_is_not_sent(suppression, settings):
    [row] = queue_without_a_worker(settings, message(GONE))
    suppress(GONE)
    assert send_row(row.pk) == "suppressed"
    assert suppression.requests == []
    row.refresh_from_db()
    assert (row.status, row.suppressed) == ("suppressed", [GONE])


def test_an_address_suppressed_before_queueing_is_listed_on_the_row(suppression, settings):
    suppress(GONE)
    [row] = queue_without_a_worker(settings, message(KEPT, GONE))
    assert row.suppressed == [GONE]
    assert send_row(row.pk) == "sent"
    [request] = suppression.sent
    assert envelope(request) == [KEPT]
    row.refresh_from_db()
    assert row.suppressed == [GONE]


def test_a_resent_row_drops_an_address_suppressed_since(suppression, django_capture_on_commit_callbacks):
    suppression.enqueue(error("MessageRejected"))
    EmailBackend(fail_silently=True, log_body=True).send_messages([message(KEPT, GONE)])
    failed = EmailLog.objects.get()
    assert failed.status == "failed"
    suppress(GONE)
    with django_capture_on_commit_callbacks(execute=True):
        again = resend(QueuedEmailBackend(log_body=True), failed)
    again.refresh_from_db()
    assert again.resent_from == failed
    assert (again.status, again.suppressed) == ("sent", [GONE])
    assert envelope(suppression.sent[-1]) == [KEPT]


def test_a_resent_row_with_nobody_left_ends_suppressed(suppression, django_capture_on_commit_callbacks):
    suppression.enqueue(error("MessageRejected"))
    EmailBackend(fail_silently=True, log_body=True).send_messages([message(GONE)])
    failed = EmailLog.objects.get()
    suppress(GONE)
    with django_capture_on_commit_callbacks(execute=True):
        again = resend(QueuedEmailBackend(log_body=True), failed)
    again.refresh_from_db()
    assert (again.status, again.suppressed) == ("suppressed", [GONE])
    assert len(suppression.sent) == 0


def test_the_test_send_drops_a_suppressed_recipient(suppression, settings):
    settings.DEFAULT_FROM_EMAIL = "noreply@example.com"
    suppress(GONE)
    out = io.StringIO()
    call_command("ses_sendtestemail", KEPT, GONE, stdout=out)
    [request] = suppression.sent
    assert envelope(request) == [KEPT]
    assert f"Suppressed (not sent to): {GONE}" in out.getvalue()


def test_the_test_send_to_a_suppressed_address_says_so(suppression, settings):
    settings.DEFAULT_FROM_EMAIL = "noreply@example.com"
    suppress(GONE)
    with pytest.raises(CommandError, match="every recipient is on the suppression list"):
        call_command("ses_sendtestemail", GONE, stdout=io.StringIO())
    assert suppression.requests == []
    assert EmailLog.objects.get().status == "suppressed"
