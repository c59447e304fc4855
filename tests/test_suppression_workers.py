"""Suppression checked by real ``db_worker`` processes when they send: an
address suppressed while its message waited in the queue, or since a failed
message was sent, is not mailed."""

from __future__ import annotations

import pytest
from django.core.mail import EmailMessage
from django.db import transaction

from django_ses_query.backend import EmailBackend, QueuedEmailBackend
from django_ses_query.models import EmailLog, Suppression
from django_ses_query.queued.recovery import resend
from tests.fakeses import error
from tests.test_queued_workers import workers  # noqa: F401  The db_worker fixture.

pytestmark = pytest.mark.django_db(transaction=True)

KEPT, GONE = "kept@example.com", "gone@example.com"


@pytest.fixture
def suppressing(settings, fake_ses):
    """SUPPRESSION on, for this process and (requested before ``workers``) the workers."""
    settings.SES_QUERY = {**settings.SES_QUERY, "SUPPRESSION": True, "LOG_BODY": True}


def message(subject, *to):
    return EmailMessage(subject=subject, body="Body", from_email="from@example.com", to=list(to))


def envelopes(fake_ses) -> dict[str, list[str]]:
    return {
        r.params["Message.Subject.Data"]: [v for k, v in sorted(r.params.items()) if ".member." in k]
        for r in fake_ses.sent
    }


def test_the_worker_checks_the_list_when_it_sends(suppressing, workers, fake_ses):  # noqa: F811
    QueuedEmailBackend().send_messages([message("both", KEPT, GONE), message("gone", GONE), message("kept", KEPT)])
    assert set(EmailLog.objects.values_list("status", flat=True)) == {"queued"}
    Suppression.objects.create(address=GONE, reason=Suppression.Reason.BOUNCE)  # While they wait.
    workers.start(1)
    workers.wait()
    assert envelopes(fake_ses) == {"both": [KEPT], "kept": [KEPT]}
    rows = {row.subject: row for row in EmailLog.objects.all()}
    assert (rows["both"].status, rows["both"].suppressed) == ("sent", [GONE])
    assert (rows["gone"].status, rows["gone"].suppressed) == ("suppressed", [GONE])
    assert (rows["kept"].status, rows["kept"].suppressed) == ("sent", [])


def test_a_resent_message_is_checked_when_the_worker_sends_it(suppressing, workers, fake_ses):  # noqa: F811
    fake_ses.enqueue(error("MessageRejected"), error("MessageRejected"))
    EmailBackend(fail_silently=True).send_messages([message("both", KEPT, GONE), message("gone", GONE)])
    failed = list(EmailLog.objects.order_by("pk"))
    assert [row.status for row in failed] == ["failed", "failed"]
    Suppression.objects.create(address=GONE, reason=Suppression.Reason.COMPLAINT)
    with transaction.atomic():
        again = [resend(QueuedEmailBackend(), row) for row in failed]
    workers.start(1)
    workers.wait()
    for row in again:
        row.refresh_from_db()
    assert [(row.resent_from_id, row.status, row.suppressed) for row in again] == [
        (failed[0].pk, "sent", [GONE]), (failed[1].pk, "suppressed", [GONE]),
    ]
    assert envelopes(fake_ses)["both"] == [KEPT]
