"""The SNS webhook: genuinely signed messages posted to /ses/events/."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from django.core import mail as django_mail
from django.db import OperationalError, connections
from django.urls import reverse

from django_ses_query.models import EmailEvent, EmailLog, Suppression
from django_ses_query.signals import ses_event
from tests import sesevents
from tests.sesevents import post
from tests.snskeys import (
    CERT_URL,
    OTHER_KEY,
    OTHER_TOPIC_ARN,
    SUBSCRIBE_URL,
    TOPIC_ARN,
    envelope,
)

pytestmark = pytest.mark.django_db

URL = "/ses/events/"
MID = "0100018c4f6a1b2c-11111111-2222-3333-4444-555555555555-000000"


def log_row(message_id=MID, **fields):
    return EmailLog.objects.create(status=EmailLog.Status.SENT, message_id=message_id,
                                   to=fields.pop("to", ["a@example.net"]), **fields)


def test_url_name():
    assert reverse("django_ses_query:events") == URL


@pytest.mark.parametrize("method", ["get", "put", "delete", "head"])
def test_only_post(client, events_on, method):
    response = getattr(client, method)(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_csrf_exempt(events_on):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    log_row()
    response = post(client, envelope(message=sesevents.delivery(MID, "a@example.net")))
    assert response.status_code == 200


@pytest.mark.parametrize("version", ["1", "2"])
def test_signed_notification_changes_the_row(client, events_on, version, django_capture_on_commit_callbacks):
    log = log_row(to=["a@example.net"])
    received = []
    ses_event.connect(lambda sender, event, **kw: received.append(event), weak=False, dispatch_uid="t")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, envelope(version=version, message=sesevents.delivery(MID, "a@example.net")))
    finally:
        ses_event.disconnect(dispatch_uid="t")
    assert response.status_code == 200
    event = EmailEvent.objects.get()
    assert (event.log_id, event.event_type, event.recipient) == (log.pk, "delivery", "a@example.net")
    log.refresh_from_db()
    assert log.outcome == "delivered"
    assert received == [event]


def test_signal_waits_for_commit(client, events_on, django_capture_on_commit_callbacks):
    received = []
    ses_event.connect(lambda sender, event, **kw: received.append(event), weak=False, dispatch_uid="t")
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            post(client, envelope(message=sesevents.bounce(MID, "a@example.net", "b@example.net")))
        assert received == []
        for callback in callbacks:
            callback()
    finally:
        ses_event.disconnect(dispatch_uid="t")
    assert sorted(e.recipient for e in received) == ["a@example.net", "b@example.net"]


def test_end_to_end_with_a_sent_message(client, events_on, backend):
    assert backend.send_messages(
        [django_mail.EmailMessage("Hi", "Body", "from@example.com", ["bounce@example.net"])]
    ) == 1
    log = EmailLog.objects.get()
    assert log.message_id and log.outcome == ""
    response = post(client, envelope(message=sesevents.bounce(log.message_id, "bounce@example.net")))
    assert response.status_code == 200
    log.refresh_from_db()
    assert log.outcome == "bounced"
    assert [e.recipient for e in log.events.all()] == ["bounce@example.net"]
    assert Suppression.objects.get().address == "bounce@example.net"


# -- Refused: 403, nothing stored, logged at WARNING ------------------------------------


def _assert_refused(response, caplog):
    assert response.status_code == 403
    assert EmailEvent.objects.count() == 0
    assert Suppression.objects.count() == 0
    assert EmailLog.objects.get().outcome == ""
    assert any(r.levelno == logging.WARNING and "refused" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "field", ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type", "Signature"]
)
def test_tampered_notification_is_refused(client, events_on, caplog, field, settings):
    log_row()
    message = envelope(message=sesevents.complaint(MID, "a@example.net"), subject="Amazon SES Email Event")
    if field == "Message":
        message["Message"] = json.dumps(sesevents.complaint(MID, "victim@example.net"))
    elif field == "Type":
        message["Type"] = "UnsubscribeConfirmation"
        message.update(SubscribeURL=SUBSCRIBE_URL, Token="t")
    elif field == "TopicArn":
        # Still an accepted topic, but not the one that was signed.
        other = "arn:aws:sns:us-east-1:123456789012:second"
        settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_TOPIC_ARNS": [TOPIC_ARN, other]}
        message["TopicArn"] = other
    elif field == "Signature":
        message["Signature"] = base64.b64encode(b"\0" * 256).decode()
    elif field == "Timestamp":
        # Still ISO 8601 (anything else is a 400), a millisecond later.
        message["Timestamp"] = message["Timestamp"][:-2] + str((int(message["Timestamp"][-2]) + 1) % 10) + "Z"
    else:
        message[field] = message[field] + "0"
    with caplog.at_level(logging.WARNING, "django_ses_query"):
        _assert_refused(post(client, message), caplog)


def test_signed_with_another_key_is_refused(client, events_on, caplog):
    log_row()
    with caplog.at_level(logging.WARNING, "django_ses_query"):
        _assert_refused(post(client, envelope(key=OTHER_KEY, message=sesevents.complaint(MID, "a@example.net"))),
                        caplog)


def test_foreign_topic_is_refused_though_signed(client, events_on, caplog):
    log_row()
    message = envelope(TopicArn=OTHER_TOPIC_ARN, message=sesevents.complaint(MID, "a@example.net"))
    with caplog.at_level(logging.WARNING, "django_ses_query"):
        _assert_refused(post(client, message), caplog)
    assert events_on.requests == []  # Refused before fetching anything.


def test_no_topics_configured_refuses_everything(client, sns_adapter, caplog, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_TOPIC_ARNS": []}
    log_row()
    with caplog.at_level(logging.WARNING, "django_ses_query"):
        _assert_refused(post(client, envelope(message=sesevents.delivery(MID, "a@example.net"))), caplog)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-0123456789abcdef.pem",
        "https://bucket.s3.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        CERT_URL + "?x=1",
    ],
)
def test_refused_certificate_url(client, events_on, caplog, url):
    log_row()
    message = envelope(SigningCertURL=url, message=sesevents.complaint(MID, "a@example.net"))
    with caplog.at_level(logging.WARNING, "django_ses_query"):
        _assert_refused(post(client, message), caplog)
    assert events_on.requests == []


def test_certificate_unreachable_is_503_so_sns_retries(client, events_on):
    del events_on.routes[CERT_URL]
    log_row()
    response = post(client, envelope(message=sesevents.delivery(MID, "a@example.net")))
    assert response.status_code == 503
    assert EmailEvent.objects.count() == 0


# -- Malformed: 400 ---------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"{", b"[]", json.dumps({"Type": "Notification"}).encode()])
def test_malformed_is_400(client, events_on, body):
    assert post(client, body).status_code == 400
    assert EmailEvent.objects.count() == 0


def test_signed_but_not_an_ses_event_is_400(client, events_on):
    assert post(client, envelope(message="Hello world")).status_code == 400
    assert post(client, envelope(message={"eventType": "Nope"})).status_code == 400
    assert EmailEvent.objects.count() == 0


# -- Basic auth ---------------------------------------------------------------------------


def _basic(credentials: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials.encode()).decode()}


@pytest.mark.parametrize(
    "headers",
    [{}, _basic("sns:wrong"), _basic("other:s3cret-pass"), _basic("sns:s3cret-pass2"),
     {"HTTP_AUTHORIZATION": "Bearer x"}, {"HTTP_AUTHORIZATION": "Basic !!!"}],
)
def test_basic_auth_required_when_set(client, events_on, settings, headers):
    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_BASIC_AUTH": "sns:s3cret-pass"}
    log_row()
    response = post(client, envelope(message=sesevents.delivery(MID, "a@example.net")), **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic ")
    assert b"s3cret-pass" not in response.content
    assert EmailEvent.objects.count() == 0


def test_basic_auth_accepted(client, events_on, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_BASIC_AUTH": "sns:s3cret-pass"}
    log_row()
    response = post(client, envelope(message=sesevents.delivery(MID, "a@example.net")), **_basic("sns:s3cret-pass"))
    assert response.status_code == 200
    assert EmailEvent.objects.count() == 1


def test_basic_auth_password_not_in_repr_or_errors(settings):
    from django_ses_query.conf import get_config

    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_BASIC_AUTH": "sns:s3cret-pass"}
    assert "s3cret-pass" not in repr(get_config())


# -- Idempotence, unknown messages, failures -------------------------------------------------


def test_duplicate_stores_nothing_new(client, events_on):
    log_row()
    message = envelope(message=sesevents.complaint(MID, "a@example.net"))
    assert post(client, message).status_code == 200
    assert post(client, message).status_code == 200
    assert EmailEvent.objects.count() == 1
    assert Suppression.objects.count() == 1


def test_unknown_message_id_is_stored_without_a_log(client, events_on):
    response = post(client, envelope(message=sesevents.bounce("unknown-id", "x@example.net")))
    assert response.status_code == 200
    event = EmailEvent.objects.get()
    assert event.log is None and event.message_id == "unknown-id"
    assert Suppression.objects.get().address == "x@example.net"


def test_database_down_is_500_and_nothing_stored(client, events_on):
    log_row()

    def down(execute, sql, params, many, context):
        raise OperationalError("could not connect to server")

    message = envelope(message=sesevents.bounce(MID, "a@example.net"))
    with connections["default"].execute_wrapper(down):
        response = post(client, message)
    assert response.status_code == 500
    assert EmailEvent.objects.count() == 0
    # SNS retries once the database is back.
    assert post(client, message).status_code == 200
    assert EmailEvent.objects.count() == 1


# -- Outcome precedence -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sequence, expected",
    [
        (["delay", "delivery"], "delivered"),
        (["delivery", "delay"], "delivered"),
        (["delivery", "bounce"], "bounced"),
        (["bounce", "delivery"], "bounced"),
        (["complaint", "bounce", "delivery"], "complained"),
        (["delivery", "complaint"], "complained"),
        (["reject", "delivery"], "rejected"),
        (["bounce", "reject"], "bounced"),
        (["send", "open", "click"], ""),
        (["delay"], "delayed"),
        (["rendering", "delivery"], "rendering_failed"),
        (["delay", "rendering"], "rendering_failed"),
        (["rendering", "reject"], "rejected"),
    ],
)
def test_multi_recipient_outcome_precedence(client, events_on, sequence, expected):
    log = log_row(to=["a@example.net", "b@example.net", "c@example.net"])
    makers = {
        "delivery": lambda: sesevents.delivery(MID, "a@example.net"),
        "delay": lambda: sesevents.delivery_delay(MID, "b@example.net"),
        "bounce": lambda: sesevents.bounce(MID, "b@example.net", bounce_type="Transient"),
        "complaint": lambda: sesevents.complaint(MID, "c@example.net"),
        "reject": lambda: sesevents.reject(MID),
        "send": lambda: sesevents.send(MID),
        "open": lambda: sesevents.open_(MID),
        "click": lambda: sesevents.click(MID),
        "rendering": lambda: sesevents.rendering_failure(MID),
    }
    for name in sequence:
        assert post(client, envelope(message=makers[name]())).status_code == 200
    log.refresh_from_db()
    assert log.outcome == expected
    assert log.events.count() == len(sequence)


def test_one_event_many_recipients_worst_wins(client, events_on):
    log = log_row(to=["a@example.net", "b@example.net"])
    post(client, envelope(message=sesevents.delivery(MID, "a@example.net", "b@example.net")))
    post(client, envelope(message=sesevents.bounce(MID, "a@example.net", "b@example.net",
                                                   bounce_type="Transient")))
    log.refresh_from_db()
    assert log.outcome == "bounced"
    assert Suppression.objects.count() == 0  # Transient: not suppressed.


def test_suppression_reasons(client, events_on):
    post(client, envelope(message=sesevents.bounce(MID, "Hard@Example.NET")))
    post(client, envelope(message=sesevents.complaint(MID, "angry@example.net")))
    post(client, envelope(message=sesevents.bounce(MID, "soft@example.net", bounce_type="Transient")))
    assert dict(Suppression.objects.values_list("address", "reason")) == {
        "hard@example.net": "bounce", "angry@example.net": "complaint",
    }
    assert Suppression.objects.get(address="hard@example.net").event.recipient == "Hard@Example.NET"


# -- Subscriptions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_subscription_confirmation_is_confirmed(client, events_on, version):
    events_on.routes[SUBSCRIBE_URL] = (200, b"<ConfirmSubscriptionResponse/>")
    response = post(client, envelope("SubscriptionConfirmation", version=version))
    assert response.status_code == 200
    assert [r.url for r in events_on.requests if "Confirm" in r.url] == [SUBSCRIBE_URL]
    assert events_on.requests[-1].method == "GET"


def test_subscription_confirmation_from_a_foreign_topic_is_not_followed(client, events_on):
    events_on.routes[SUBSCRIBE_URL] = (200, b"")
    response = post(client, envelope("SubscriptionConfirmation", TopicArn=OTHER_TOPIC_ARN))
    assert response.status_code == 403
    assert events_on.requests == []


@pytest.mark.parametrize(
    "url",
    ["https://evil.example/?Action=ConfirmSubscription",
     "https://sns.us-east-1.amazonaws.com.evil.example/?Action=ConfirmSubscription",
     "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
     "https://x@sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"],
)
def test_subscribe_url_off_sns_is_not_followed(client, events_on, url):
    events_on.routes[url] = (200, b"")
    response = post(client, envelope("SubscriptionConfirmation", SubscribeURL=url))
    assert response.status_code == 403
    assert url not in [r.url for r in events_on.requests]


def test_tampered_subscription_confirmation_is_not_followed(client, events_on):
    message = envelope("SubscriptionConfirmation")
    message["Token"] = "other"
    events_on.routes[SUBSCRIBE_URL] = (200, b"")
    assert post(client, message).status_code == 403
    assert SUBSCRIBE_URL not in [r.url for r in events_on.requests]


def test_subscription_confirmation_failing_is_500(client, events_on):
    events_on.routes[SUBSCRIBE_URL] = (403, b"denied")
    assert post(client, envelope("SubscriptionConfirmation")).status_code == 500


def test_unsubscribe_confirmation_is_logged_never_followed(client, events_on, caplog):
    events_on.routes[SUBSCRIBE_URL] = (200, b"")
    with caplog.at_level(logging.WARNING, "django_ses_query"):
        response = post(client, envelope("UnsubscribeConfirmation"))
    assert response.status_code == 200
    assert SUBSCRIBE_URL not in [r.url for r in events_on.requests]
    assert any("unsubscribed" in r.getMessage() for r in caplog.records)


def test_ses_subscription_notice_is_accepted(client, events_on):
    message = envelope(message={"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"})
    assert post(client, message).status_code == 200
    assert EmailEvent.objects.count() == 0


def test_a_recipient_named_twice_is_one_row(client, events_on):
    log_row()
    post(client, envelope(message=sesevents.delivery(MID, "a@example.net", "a@example.net")))
    assert EmailEvent.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "sendlog"], transaction=True)
def test_the_same_notification_stored_concurrently_is_stored_once(client, events_on, settings):
    """Another worker stores the notification between our check and our
    insert (simulated through a second connection): the constraint stops
    the second copy and the answer is still a 200."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("needs two connections to one database (SES_QUERY_TEST_POSTGRES)")
    from django.db.models.signals import pre_save

    message = envelope(message=sesevents.bounce(MID, "a@example.net"))

    def race(sender, instance, **kwargs):
        pre_save.disconnect(race, sender=EmailEvent)
        EmailEvent.objects.using("sendlog").create(
            message_id=MID, event_type="bounce", recipient="a@example.net",
            sns_message_id=message["MessageId"],
        )

    pre_save.connect(race, sender=EmailEvent)
    try:
        response = post(client, message)
    finally:
        pre_save.disconnect(race, sender=EmailEvent)
    assert response.status_code == 200
    assert EmailEvent.objects.filter(sns_message_id=message["MessageId"]).count() == 1
    assert Suppression.objects.count() == 0  # Ours was rolled back with its suppression.


def test_a_genuine_aws_message_end_to_end(client, sns_adapter, settings, monkeypatch):
    """An SES complaint event as AWS signed it (tests/sns_golden), its
    certificate served at its own SigningCertURL and its issuer at its CA
    Issuers URL, chained to Amazon Root CA 1 of certifi's bundle as of the
    certificate's last valid day. It is from 2022: the age limit is off."""
    from pathlib import Path

    golden = Path(__file__).resolve().parent / "sns_golden"
    message = json.loads((golden / "ses-complaint-event-v1.json").read_text())
    pem = (golden / "SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem").read_bytes()
    sns_adapter.routes[message["SigningCertURL"]] = (200, pem)
    sns_adapter.routes["http://crt.sca1b.amazontrust.com/sca1b.crt"] = (
        200, (golden / "amazon-server-ca-1b.pem").read_bytes())
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # certifi's bundle, as requests would use.
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_TOPIC_ARNS": [message["TopicArn"]],
                          "EVENT_MAX_AGE_DAYS": None}
    log = log_row(message_id="0100017fd2f875c4-c2929163-2767-49b1-8513-1a29e428e134-000000",
                  to=["complaint@simulator.amazonses.com"])
    assert post(client, message).status_code == 200
    log.refresh_from_db()
    assert log.outcome == "complained"
    event = log.events.get()
    assert (event.event_type, event.recipient, event.feedback_type) == (
        "complaint", "complaint@simulator.amazonses.com", "abuse")
    assert event.sns_message_id == message["MessageId"]
    assert Suppression.objects.get().reason == "complaint"
    # One character of the signed Message changed: refused.
    tampered = {**message, "MessageId": "97903a0c-8818-5442-94b2-60b0c63d3da1",
                "Message": message["Message"].replace("abuse", "fraud")}
    assert post(client, tampered).status_code == 403
