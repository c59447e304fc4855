"""Received mail in the admin: the list, filters and search, the change
page (escaped, HTML as source), the .eml download, and the Replies inline
on a send log row."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Permission, User

from django_ses_query.models import EmailLog, InboundEmail

pytestmark = pytest.mark.django_db

SENT_ID = "0100018c4f6a1b2c-11111111-2222-3333-4444-555555555555-000000"
LIST = "/admin/django_ses_query/inboundemail/"


def inbound(**fields):
    values = {
        "message_id": fields.pop("message_id", "inbound-1"), "action": "SNS",
        "received_at": datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.timezone.utc),
        "source": "bounces@example.net", "recipients": ["support@example.com"],
        "from_email": "Customer <customer@example.net>", "to": ["support@example.com"],
        "subject": "Re: your order", "spam_verdict": "PASS", "virus_verdict": "PASS",
        "spf_verdict": "PASS", "dkim_verdict": "GRAY", "dmarc_verdict": "FAIL", "dmarc_policy": "reject",
        "text_body": "Thanks", "html_body": "<p>Thanks</p><script>alert(1)</script>",
        "headers": [["Subject", "Re: your order"], ["X-Evil", "<b>bold</b>"]],
        "receipt": {"receipt": {"spamVerdict": {"status": "PASS"}}},
        "attachments": [{"filename": "<img>.pdf", "content_type": "application/pdf", "size": 12}],
        "problems": ["part 2: broken base64, decoded as far as it goes"],
    }
    values.update(fields)
    return InboundEmail.objects.create(**values)


def test_list_columns_filters_and_search(admin_client):
    log = EmailLog.objects.create(status="sent", message_id=SENT_ID, subject="Your order")
    inbound(log=log)
    inbound(message_id="inbound-2", from_email="spammer@example.org", subject="Buy <now>", spam_verdict="FAIL")
    page = admin_client.get(LIST).content.decode()
    assert "Customer &lt;customer@example.net&gt;" in page and "Buy &lt;now&gt;" in page
    assert "support@example.com" in page and "PASS / GRAY / FAIL" in page
    assert "Your order" in page  # The linked log row.
    spam = admin_client.get(LIST, {"spam_verdict__exact": "FAIL"}).content.decode()
    assert "spammer@example.org" in spam and "customer@example.net" not in spam
    assert "spammer@example.org" not in admin_client.get(LIST, {"action__exact": "S3"}).content.decode()
    assert "spammer" in admin_client.get(LIST, {"q": "spammer"}).content.decode()
    found = admin_client.get(LIST, {"q": "inbound-1"}).content.decode()
    assert "customer@example.net" in found and "spammer" not in found


def test_change_page_shows_everything_escaped(admin_client):
    row = inbound()
    page = admin_client.get(f"{LIST}{row.pk}/change/").content.decode()
    for verdict in ("PASS", "GRAY", "FAIL", "reject"):
        assert verdict in page
    assert "&lt;p&gt;Thanks&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" not in page
    assert "X-Evil: &lt;b&gt;bold&lt;/b&gt;" in page
    assert "&lt;img&gt;.pdf" in page and "broken base64" in page
    assert 'name="subject"' not in page  # Read-only.
    assert "not kept (INBOUND_STORE_RAW is off)" in page


def test_raw_download(admin_client):
    kept = inbound(raw=b"From: a@example.net\r\n\r\nraw body")
    page = admin_client.get(f"{LIST}{kept.pk}/change/").content.decode()
    assert f"{LIST}{kept.pk}/raw/" in page
    response = admin_client.get(f"{LIST}{kept.pk}/raw/")
    assert response.status_code == 200
    assert response["Content-Type"] == "message/rfc822"
    assert response["Content-Disposition"] == f'attachment; filename="{kept.pk}.eml"'
    assert response.content == b"From: a@example.net\r\n\r\nraw body"
    missing = inbound(message_id="inbound-2")
    assert admin_client.get(f"{LIST}{missing.pk}/raw/").status_code == 404


def test_read_only_and_deletable_with_the_permission(client, admin_client):
    row = inbound()
    assert admin_client.get(f"{LIST}add/").status_code == 403
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_inboundemail"))
    client.force_login(staff)
    assert client.get(f"{LIST}{row.pk}/change/").status_code == 200
    assert client.get(f"{LIST}{row.pk}/delete/").status_code == 403
    assert client.get(f"{LIST}{row.pk}/raw/").status_code == 404  # Not kept.
    response = admin_client.post(f"{LIST}{row.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not InboundEmail.objects.exists()


def test_log_row_shows_its_replies(admin_client):
    log = EmailLog.objects.create(status="sent", message_id=SENT_ID, subject="Your order")
    reply = inbound(log=log, subject="Re: <i>order</i>")
    inbound(message_id="inbound-2", subject="Unrelated")
    page = admin_client.get(f"/admin/django_ses_query/emaillog/{log.pk}/change/").content.decode()
    assert "Replies" in page
    assert f"{LIST}{reply.pk}/change/" in page
    assert "Re: &lt;i&gt;order&lt;/i&gt;" in page and "Customer &lt;customer@example.net&gt;" in page
    assert "Unrelated" not in page
