"""Topic mail through QueuedEmailBackend and a real ``db_worker``: one
queued row and task per copy, and the worker checks the list again just
before signing."""

from __future__ import annotations

import base64

import pytest
from django.core.mail import EmailMessage
from django.test import Client

from django_ses_query.models import EmailLog, Suppression
from django_ses_query.unsubscribe import make_token
from tests.test_queued_workers import tasks, workers  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_recipient_who_unsubscribes_while_the_copy_waits_gets_nothing(workers, settings, fake_ses):  # noqa: F811
    from django_ses_query.backend import QueuedEmailBackend

    settings.SES_QUERY = {**settings.SES_QUERY, "UNSUBSCRIBE_BASE_URL": "https://example.com"}
    Suppression.objects.create(address="a@example.com", topic="*", reason="unsubscribe")
    message = EmailMessage("News", "Body", "from@example.com", ["a@example.com", "b@example.com"],
                           bcc=["c@example.com"])
    message.unsubscribe_topic = "newsletter"
    transactional = EmailMessage("Reset", "Body", "from@example.com", ["b@example.com"])
    backend = QueuedEmailBackend()
    assert backend.send_messages([message, transactional]) == 2

    assert list(EmailLog.objects.order_by("pk").values_list("subject", "to", "bcc", "status", "topic")) == [
        ("News", ["a@example.com"], [], "suppressed", "newsletter"),
        ("News", ["b@example.com"], [], "queued", "newsletter"),
        ("News", [], ["c@example.com"], "queued", "newsletter"),
        ("Reset", ["b@example.com"], [], "queued", ""),
    ]
    assert tasks().count() == 3  # one per queued row

    # b unsubscribes from the newsletter (one click) before a worker runs.
    answer = Client(enforce_csrf_checks=True).post(
        f"/ses/unsubscribe/{make_token('b@example.com', 'newsletter')}/", {"List-Unsubscribe": "One-Click"}
    )
    assert answer.status_code == 200

    workers.start(1)
    workers.wait()
    [sent] = [r for r in fake_ses.sent if r.action == "SendRawEmail"]
    assert sent.params["Destinations.member.1"] == "c@example.com"
    data = base64.b64decode(sent.params["RawMessage.Data"])
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in data and b"c@example.com" not in data
    assert sorted(r.action for r in fake_ses.sent) == ["SendEmail", "SendRawEmail"]
    final = list(EmailLog.objects.order_by("pk").values_list("subject", "to", "bcc", "status", "suppressed", "topic"))
    assert final == [
        ("News", ["a@example.com"], [], "suppressed", ["a@example.com"], "newsletter"),
        ("News", ["b@example.com"], [], "suppressed", ["b@example.com"], "newsletter"),
        ("News", [], ["c@example.com"], "sent", [], "newsletter"),
        ("Reset", ["b@example.com"], [], "sent", [], ""),
    ]
