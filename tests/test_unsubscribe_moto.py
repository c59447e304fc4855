"""Topic mail end to end against moto's SES server (signatures checked):
the copies SES gets, their links, and the endpoint those links reach."""

from __future__ import annotations

import re

import pytest
from django.core.mail import EmailMessage
from django.test import Client

from django_ses_query.models import EmailLog
from tests.moto_sending import ses  # noqa: F401  Fixture.
from tests.moto_sending import SENDER, parse_raw

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_each_copy_reaches_ses_with_its_link_and_the_link_unsubscribes(ses, settings):  # noqa: F811
    settings.SES_QUERY = {**settings.SES_QUERY, "UNSUBSCRIBE_BASE_URL": "https://shop.example",
                          "UNSUBSCRIBE_MAILTO": "leave@shop.example"}

    def newsletter():
        message = EmailMessage("Deals", "This week.\n", SENDER, ["Ann <ann@example.net>"], bcc=["bob@example.net"])
        message.unsubscribe_topic = "deals"
        return message

    assert newsletter().send() == 1
    sent = ses.sent_messages()
    assert [m["destinations"][:1] for m in sent] == [["ann@example.net"], ["bob@example.net"]]
    links = []
    for copy in sent:
        parsed = parse_raw(copy["raw_data"])
        assert parsed["To"] == "Ann <ann@example.net>" and parsed["Bcc"] is None
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        value = " ".join(parsed["List-Unsubscribe"].split())
        assert "=?" not in value
        [link] = re.findall(r"<(https://shop\.example/ses/unsubscribe/[^>]+/)>", value)
        assert value == f"<{link}>, <mailto:leave@shop.example?subject=unsubscribe>"
        links.append(link)
    rows = list(EmailLog.objects.order_by("pk"))
    assert [r.message_id for r in rows] == [m["id"] for m in sent]

    # Bob clicks (his mail provider POSTs, RFC 8058); Ann does nothing.
    answer = Client(enforce_csrf_checks=True).post(
        links[1].removeprefix("https://shop.example"), {"List-Unsubscribe": "One-Click"}
    )
    assert answer.status_code == 200

    ses.reset_ses()
    ses.verify_email_identity(SENDER)
    assert newsletter().send() == 1
    assert [m["destinations"][:1] for m in ses.sent_messages()] == [["ann@example.net"]]
    assert EmailLog.objects.get(bcc=["bob@example.net"], status="suppressed").topic == "deals"
