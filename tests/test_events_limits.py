"""SES events are always stored, even on PostgreSQL, which refuses NUL
characters in text and JSON and enforces column lengths: as the send log
does, NULs are removed (from every string of the event JSON, keys too), lone
surrogates replaced, over-long texts cut to their column, and the change is
said at WARNING with the SNS MessageId. Run with SES_QUERY_TEST_POSTGRES to
check it on PostgreSQL."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import connections

from django_ses_query.events.store import store_payload
from django_ses_query.models import EmailEvent, EmailLog, Suppression
from tests import sesevents
from tests.sesevents import post
from tests.snskeys import envelope

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])

URL = "/ses/events/"
MID = "0100018c4f6a1b2c-11111111-2222-3333-4444-555555555555-000000"
LONG_DIAGNOSTIC = "smtp; 550 5.1.1 \x00" + "x" * 5000
USER_AGENT = "Mozilla/5.0 (\x00evil)"


def strings(value):
    """Every string in decoded JSON, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)


def bounce_with_a_long_nul_diagnostic() -> dict:
    payload = sesevents.bounce(MID, "bounced@example.net")
    payload["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = LONG_DIAGNOSTIC
    return payload


def click_with_a_nul_user_agent() -> dict:
    payload = sesevents.click(MID)
    payload["click"]["userAgent"] = USER_AGENT
    payload["click"]["linkTags"] = {"camp\x00aign": ["spring\x00"]}
    return payload


def on_postgresql() -> None:
    if connections["default"].vendor != "postgresql":
        pytest.skip("PostgreSQL refuses NUL characters (set SES_QUERY_TEST_POSTGRES)")


# -- On PostgreSQL: answered 200, stored once, the bounce still suppresses -------------


@pytest.mark.postgres
def test_a_bounce_with_a_nul_in_a_5000_character_diagnostic_on_postgresql(client, events_on):
    on_postgresql()
    EmailLog.objects.create(status=EmailLog.Status.SENT, message_id=MID, to=["bounced@example.net"])
    message = envelope(message=bounce_with_a_long_nul_diagnostic())
    assert post(client, message).status_code == 200
    # SNS sends it again (it did not hear our answer): nothing new.
    assert post(client, message).status_code == 200
    event = EmailEvent.objects.get()
    assert event.diagnostic == LONG_DIAGNOSTIC.replace("\x00", "")
    assert (event.sns_message_id, event.log.outcome) == (message["MessageId"], "bounced")
    assert Suppression.objects.get().address == "bounced@example.net"


@pytest.mark.postgres
def test_a_click_with_a_nul_in_its_user_agent_on_postgresql(client, events_on):
    on_postgresql()
    message = envelope(message=click_with_a_nul_user_agent())
    assert post(client, message).status_code == 200
    assert post(client, message).status_code == 200
    event = EmailEvent.objects.get()
    assert event.payload["click"]["userAgent"] == "Mozilla/5.0 (evil)"
    assert event.payload["click"]["linkTags"] == {"campaign": ["spring"]}


# -- On every database: what is stored, and what is said --------------------------------


def test_nul_characters_are_removed_and_the_change_is_said(client, events_on, caplog):
    message = envelope(message=bounce_with_a_long_nul_diagnostic())
    with caplog.at_level(logging.WARNING, logger="django_ses_query"):
        assert post(client, message).status_code == 200
    event = EmailEvent.objects.get()
    assert event.diagnostic == "smtp; 550 5.1.1 " + "x" * 5000  # A TextField: not cut.
    assert not any("\x00" in text for text in strings(event.payload))
    assert event.payload["bounce"]["bouncedRecipients"][0]["diagnosticCode"] == event.diagnostic
    assert Suppression.objects.get().address == "bounced@example.net"
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    said = warning.getMessage()
    assert message["MessageId"] in said
    assert "NUL characters removed from diagnostic" in said
    assert "NUL characters removed from payload" in said


def test_nul_characters_in_payload_keys_are_removed(client, events_on):
    assert post(client, envelope(message=click_with_a_nul_user_agent())).status_code == 200
    payload = EmailEvent.objects.get().payload
    assert payload["click"]["userAgent"] == "Mozilla/5.0 (evil)"
    assert payload["click"]["linkTags"] == {"campaign": ["spring"]}


def test_a_lone_surrogate_is_refused_at_the_webhook(client, events_on):
    # JSON may escape half a surrogate pair: the webhook refuses it (400)...
    payload = sesevents.bounce(MID, "bounced@example.net")
    body = json.dumps(payload).replace("user unknown", "user \\ud800unknown")
    assert post(client, envelope(message=body)).status_code == 400
    assert not EmailEvent.objects.exists()


def test_a_lone_surrogate_is_replaced_when_stored(caplog):
    # ...and should one reach the store by another way, it is stored replaced.
    payload = sesevents.bounce(MID, "bounced@example.net")
    payload["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = "smtp; 550 user \ud800unknown"
    with caplog.at_level(logging.WARNING, logger="django_ses_query"):
        (event,) = store_payload(payload, "sns-message-2")
        store_payload(payload, "sns-message-2")
    event.refresh_from_db()
    assert event.diagnostic == "smtp; 550 user \ufffdunknown"
    assert EmailEvent.objects.count() == 1
    assert Suppression.objects.get().address == "bounced@example.net"
    assert "(SNS MessageId sns-message-2, SES MessageId " in caplog.text
    assert "lone surrogates replaced in diagnostic; lone surrogates replaced in payload" in caplog.text


def test_texts_longer_than_their_column_are_cut_and_the_cut_is_said(caplog):
    payload = sesevents.bounce(MID, "bounced@example.net")
    payload["bounce"]["bounceSubType"] = "s" * 500
    with caplog.at_level(logging.WARNING, logger="django_ses_query"):
        (event,) = store_payload(payload, "sns-message-1")
    event.refresh_from_db()
    assert event.bounce_subtype == "s" * 64
    assert event.payload["bounce"]["bounceSubType"] == "s" * 500  # The JSON as SES sent it.
    assert "bounce_subtype cut from 500 to 64 characters" in caplog.text
    assert "sns-message-1" in caplog.text


def test_an_event_that_fits_is_stored_without_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="django_ses_query"):
        assert len(store_payload(sesevents.bounce(MID, "a@example.net"), "sns-message-2")) == 1
    assert caplog.records == []
