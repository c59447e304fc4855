"""SES events in the admin: the inline on a log row, the outcome filter,
the event list."""

from __future__ import annotations

import pytest

from django_ses_query.models import EmailEvent, EmailLog

pytestmark = pytest.mark.django_db

MID = "0100018c4f6a1b2c-11111111-2222-3333-4444-555555555555-000000"


@pytest.fixture
def rows():
    bounced = EmailLog.objects.create(status="sent", message_id=MID, subject="Bounced one",
                                      outcome="bounced", to=["b@example.net"])
    delivered = EmailLog.objects.create(status="sent", message_id="other", subject="Delivered one",
                                        outcome="delivered", to=["d@example.net"])
    EmailEvent.objects.create(log=bounced, message_id=MID, event_type="bounce", recipient="b@example.net",
                              bounce_type="Permanent", diagnostic="smtp; 550 <b>no</b>", sns_message_id="s1")
    EmailEvent.objects.create(log=delivered, message_id="other", event_type="delivery",
                              recipient="d@example.net", sns_message_id="s2")
    EmailEvent.objects.create(message_id="unknown", event_type="complaint", recipient="c@example.org",
                              sns_message_id="s3")
    return bounced, delivered


def test_log_detail_shows_its_events_read_only(admin_client, rows):
    bounced, _ = rows
    page = admin_client.get(f"/admin/django_ses_query/emaillog/{bounced.pk}/change/").content.decode()
    assert "SES events" in page
    assert "b@example.net" in page and "Permanent" in page
    assert "smtp; 550 &lt;b&gt;no&lt;/b&gt;" in page  # Escaped.
    assert "d@example.net" not in page
    assert 'name="events-0-recipient"' not in page  # No editable inline fields.
    assert "bounced" in page


def test_outcome_filter(admin_client, rows):
    page = admin_client.get("/admin/django_ses_query/emaillog/", {"outcome": "bounced"}).content.decode()
    assert "Bounced one" in page and "Delivered one" not in page


def test_event_list_filter_and_search(admin_client, rows):
    url = "/admin/django_ses_query/emailevent/"
    page = admin_client.get(url, {"event_type": "complaint"}).content.decode()
    assert "c@example.org" in page and "b@example.net" not in page
    page = admin_client.get(url, {"q": "d@example.net"}).content.decode()
    assert "d@example.net" in page and "c@example.org" not in page
    page = admin_client.get(url, {"q": MID}).content.decode()
    assert "b@example.net" in page and "d@example.net" not in page
    assert admin_client.get(url + "add/").status_code == 403


def test_suppression_list_shows_and_filters_topics_and_deleting_resubscribes(admin_client, settings, fake_ses):
    from django.core.mail import EmailMessage

    from django_ses_query.backend import EmailBackend
    from django_ses_query.models import Suppression

    Suppression.objects.create(address="a@example.com", topic="news", reason="unsubscribe")
    Suppression.objects.create(address="b@example.com", topic="offers", reason="unsubscribe")
    Suppression.objects.create(address="c@example.com", topic="*", reason="unsubscribe")
    Suppression.objects.create(address="d@example.com", reason="bounce")
    url = "/admin/django_ses_query/suppression/"
    page = admin_client.get(url).content.decode()
    assert ">Topic<" in page or "column-topic" in page
    for choice in ("?topic=news", "?topic=offers", "?topic=%2A", "?topic=-", "?reason__exact=unsubscribe"):
        assert choice in page.replace("&amp;", "&"), choice

    def listed(query):
        content = admin_client.get(url + query).content.decode()
        return sorted(a for a in "abcd" if f"{a}@example.com" in content)

    assert listed("?topic=news") == ["a"]
    assert listed("?topic=-") == ["d"]
    assert listed("?topic=%2A") == ["c"]
    assert listed("?reason__exact=unsubscribe") == ["a", "b", "c"]

    settings.SES_QUERY = {**settings.SES_QUERY, "UNSUBSCRIBE_BASE_URL": "https://example.com"}
    entry = Suppression.objects.get(address="a@example.com")
    response = admin_client.post(f"{url}{entry.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    message = EmailMessage("News", "Body", "from@example.com", ["a@example.com"])
    message.unsubscribe_topic = "news"
    assert EmailBackend().send_messages([message]) == 1
    assert [r.params["Destinations.member.1"] for r in fake_ses.sent] == ["a@example.com"]
