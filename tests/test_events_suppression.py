"""Suppression on the send path (SendEmail and SendRawEmail), through the
local SES endpoint, and the suppression list in the admin."""

from __future__ import annotations

import base64

import pytest
from django.core.mail import EmailMessage

from django_ses_query.models import EmailLog, Suppression

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])


@pytest.fixture
def suppressing(make_backend):
    Suppression.objects.create(address="Gone@Example.net", reason="bounce")
    Suppression.objects.create(address="angry@example.net", reason="complaint")
    return make_backend(suppression=True)


def plain(**kwargs) -> EmailMessage:
    return EmailMessage("Hi", "Body", "from@example.com", **kwargs)


def raw(**kwargs) -> EmailMessage:
    message = plain(**kwargs)
    message.attach("a.txt", "attached", "text/plain")
    return message


def test_send_email_leaves_out_suppressed_recipients(suppressing, fake_ses):
    message = plain(to=["ok@example.net", "GONE@example.net"], cc=["Angry <angry@example.net>"],
                    bcc=["bcc@example.net"])
    assert suppressing.send_messages([message]) == 1
    (request,) = fake_ses.sent
    assert request.action == "SendEmail"
    destinations = {k: v for k, v in request.params.items() if k.startswith("Destination.")}
    assert destinations == {
        "Destination.ToAddresses.member.1": "ok@example.net",
        "Destination.BccAddresses.member.1": "bcc@example.net",
    }
    log = EmailLog.objects.get()
    assert log.status == "sent"
    assert log.message_id == message.ses_message_id
    assert log.suppressed == ["GONE@example.net", "angry@example.net"]
    assert log.to == ["ok@example.net", "GONE@example.net"]  # As addressed.


def test_send_raw_email_leaves_out_suppressed_recipients(suppressing, fake_ses):
    message = raw(to=["ok@example.net", "gone@example.net"], bcc=["angry@example.net"])
    assert suppressing.send_messages([message]) == 1
    (request,) = fake_ses.sent
    assert request.action == "SendRawEmail"
    destinations = [v for k, v in request.params.items() if k.startswith("Destinations.member.")]
    assert destinations == ["ok@example.net"]
    mime = base64.b64decode(request.params["RawMessage.Data"])
    assert b"Hi" in mime and b"angry@example.net" not in mime  # Bcc never in the MIME.
    assert EmailLog.objects.get().suppressed == ["gone@example.net", "angry@example.net"]


@pytest.mark.parametrize("make", [plain, raw])
def test_nobody_left_is_not_sent_and_logged_suppressed(suppressing, fake_ses, make):
    message = make(to=["gone@example.net"], cc=["ANGRY@example.net"])
    assert suppressing.send_messages([message]) == 0
    assert fake_ses.sent == []
    log = EmailLog.objects.get()
    assert log.status == EmailLog.Status.SUPPRESSED
    assert log.suppressed == ["gone@example.net", "ANGRY@example.net"]
    assert log.message_id == ""
    assert message.ses_message_id is None
    assert message.ses_log == log


def test_a_suppressed_message_does_not_stop_the_batch(suppressing, fake_ses):
    messages = [plain(to=["gone@example.net"]), plain(to=["ok@example.net"])]
    assert suppressing.send_messages(messages) == 1
    assert len(fake_ses.sent) == 1
    assert sorted(EmailLog.objects.values_list("status", flat=True)) == ["sent", "suppressed"]


def test_suppressed_rows_are_logged_with_log_failures(make_backend, fake_ses):
    Suppression.objects.create(address="gone@example.net", reason="bounce")
    backend = make_backend(suppression=True, log="failures")
    assert backend.send_messages([plain(to=["gone@example.net"])]) == 0
    assert EmailLog.objects.get().status == "suppressed"


def test_suppression_off_by_default(make_backend, fake_ses):
    Suppression.objects.create(address="gone@example.net", reason="bounce")
    assert make_backend().send_messages([plain(to=["gone@example.net"])]) == 1
    assert len(fake_ses.sent) == 1
    assert EmailLog.objects.get().suppressed == []


def test_deleting_the_entry_unsuppresses(suppressing, fake_ses):
    Suppression.objects.filter(address="gone@example.net").delete()
    assert suppressing.send_messages([plain(to=["gone@example.net"])]) == 1
    assert len(fake_ses.sent) == 1


def test_address_is_stored_lower_cased_and_unique():
    entry = Suppression.objects.get_or_create(address="X@Example.NET", defaults={"reason": "bounce"})[0]
    assert entry.address == "x@example.net"


# -- Admin ---------------------------------------------------------------------------------


def test_admin_suppression_list_search_and_delete(admin_client):
    entry = Suppression.objects.create(address="gone@example.net", reason="bounce")
    Suppression.objects.create(address="other@example.org", reason="complaint")
    page = admin_client.get("/admin/django_ses_query/suppression/", {"q": "gone"}).content.decode()
    assert "gone@example.net" in page and "other@example.org" not in page
    response = admin_client.post(f"/admin/django_ses_query/suppression/{entry.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Suppression.objects.filter(address="gone@example.net").exists()
    assert admin_client.get("/admin/django_ses_query/suppression/add/").status_code == 403


def test_a_bounce_is_stored_for_every_message_even_with_topic_rows():
    from django_ses_query.events.store import store_payload
    from tests import sesevents

    Suppression.objects.create(address="a@example.net", topic="news", reason="unsubscribe")
    Suppression.objects.create(address="b@example.net", topic="*", reason="unsubscribe")
    store_payload(sesevents.bounce("m1", "A@example.net"), "sns-1")
    store_payload(sesevents.complaint("m2", "b@example.net"), "sns-2")
    assert sorted(Suppression.objects.values_list("address", "topic", "reason")) == [
        ("a@example.net", "", "bounce"), ("a@example.net", "news", "unsubscribe"),
        ("b@example.net", "", "complaint"), ("b@example.net", "*", "unsubscribe"),
    ]


def test_prunelog_never_deletes_suppressions():
    import datetime

    from django.core.management import call_command
    from django.utils import timezone

    Suppression.objects.create(address="a@example.net", topic="news", reason="unsubscribe")
    Suppression.objects.create(address="b@example.net", reason="bounce")
    Suppression.objects.update(created_at=timezone.now() - datetime.timedelta(days=900))
    EmailLog.objects.create(status="sent")
    EmailLog.objects.update(created_at=timezone.now() - datetime.timedelta(days=900))
    call_command("ses_prunelog", "--days", "1", stdout=__import__("io").StringIO())
    assert not EmailLog.objects.exists()
    assert Suppression.objects.count() == 2
