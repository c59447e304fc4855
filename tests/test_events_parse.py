"""SES event JSON → EmailEvent fields, both styles, every type."""

from __future__ import annotations

import datetime

import pytest

from django_ses_query.events.parse import MalformedEvent, parse_event
from tests import sesevents

MID = "0100018c4f6a1b2c-11111111-2222-3333-4444-555555555555-000000"


@pytest.mark.parametrize("style", ["eventType", "notificationType"])
def test_bounce_one_row_per_recipient(style):
    rows = parse_event(sesevents.bounce(MID, "a@example.net", "b@example.net", style=style))
    assert [r["recipient"] for r in rows] == ["a@example.net", "b@example.net"]
    assert {r["event_type"] for r in rows} == {"bounce"}
    assert rows[0]["bounce_type"] == "Permanent"
    assert rows[0]["bounce_subtype"] == "General"
    assert rows[0]["diagnostic"] == "smtp; 550 5.1.1 a@example.net user unknown"
    assert rows[1]["diagnostic"].endswith("b@example.net user unknown")
    assert rows[0]["message_id"] == MID
    assert rows[0]["timestamp"] == datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("style", ["eventType", "notificationType"])
def test_complaint_and_delivery(style):
    rows = parse_event(sesevents.complaint(MID, "c@example.net", style=style))
    assert [(r["event_type"], r["recipient"], r["feedback_type"]) for r in rows] == [
        ("complaint", "c@example.net", "abuse")
    ]
    rows = parse_event(sesevents.delivery(MID, "d@example.net", "e@example.net", style=style))
    assert [(r["event_type"], r["recipient"]) for r in rows] == [
        ("delivery", "d@example.net"), ("delivery", "e@example.net"),
    ]
    assert rows[0]["diagnostic"] == "250 ok: Message accepted"


def test_delivery_delay():
    (row,) = parse_event(sesevents.delivery_delay(MID, "f@example.net"))
    assert (row["event_type"], row["recipient"]) == ("delivery_delay", "f@example.net")
    assert row["diagnostic"] == "smtp; 421 4.4.1 Unable to connect"


@pytest.mark.parametrize(
    "make, kind, diagnostic",
    [
        (sesevents.send, "send", ""),
        (sesevents.reject, "reject", "Bad content"),
        (sesevents.open_, "open", ""),
        (sesevents.click, "click", ""),
        (sesevents.rendering_failure, "rendering_failure", "Attribute 'name' is not present"),
        (sesevents.subscription, "subscription", ""),
    ],
)
def test_events_without_recipients_have_one_row(make, kind, diagnostic):
    payload = make(MID)
    (row,) = parse_event(payload)
    assert row["event_type"] == kind
    assert row["recipient"] == ""
    assert row["diagnostic"] == diagnostic
    assert row["payload"] == payload


def test_subscription_notice_is_no_event():
    assert parse_event({"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"}) == []


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "text",
        {},
        {"eventType": "Explosion", "mail": {}},
        {"eventType": "Bounce", "mail": [], "bounce": {"bouncedRecipients": []}},
        {"eventType": "Bounce", "mail": {}, "bounce": {"bouncedRecipients": "a@example.net"}},
        {"eventType": "Bounce", "mail": {}, "bounce": {"bouncedRecipients": [{"address": "x"}]}},
        {"eventType": "Delivery", "mail": {}, "delivery": "yes"},
    ],
)
def test_malformed_events(payload):
    with pytest.raises(MalformedEvent):
        parse_event(payload)


def test_long_texts_are_cut_to_the_column():
    payload = sesevents.bounce(MID, "a@example.net")
    payload["bounce"]["bounceSubType"] = "x" * 500
    (row,) = parse_event(payload)
    assert len(row["bounce_subtype"]) == 64


def test_unparseable_timestamp_falls_back_to_none():
    payload = sesevents.send(MID)
    payload["mail"]["timestamp"] = "2018-10-08T14:05:45 +0000x"
    (row,) = parse_event(payload)
    assert row["timestamp"] is None
