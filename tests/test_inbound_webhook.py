"""Inbound mail through the SNS webhook: SES receiving's SNS action,
genuinely signed notifications posted to /ses/events/."""

from __future__ import annotations

import base64
import io
import json
import logging

import pytest

from django_ses_query.models import EmailLog, InboundEmail
from django_ses_query.signals import inbound_received
from tests.inbound_mail import now, raw_message, received
from tests.snskeys import OTHER_KEY, OTHER_TOPIC_ARN, envelope

pytestmark = pytest.mark.django_db

URL = "/ses/events/"
SENT_ID = "0100018c4f6a1b2c-11111111-2222-3333-4444-555555555555-000000"


@pytest.fixture
def inbound_on(settings, sns_adapter):
    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_TOPIC_ARNS": [envelope()["TopicArn"]]}
    return sns_adapter


@pytest.fixture
def signals():
    got = []

    def receiver(sender, **kwargs):
        got.append({"sender": sender, **kwargs})

    inbound_received.connect(receiver, weak=False, dispatch_uid="test-inbound")
    yield got
    inbound_received.disconnect(dispatch_uid="test-inbound")


def post(client, notification, **fields):
    message = envelope(message=notification, Timestamp=now(), **fields)
    return client.post(URL, json.dumps(message), content_type="text/plain; charset=UTF-8")


def stored(**filters):
    return InboundEmail.objects.get(**filters)


@pytest.mark.parametrize("encoding", ["BASE64", "UTF8"])
def test_sns_action_is_stored_parsed_and_signalled(client, inbound_on, signals, encoding,
                                                    django_capture_on_commit_callbacks):
    raw = raw_message(subject="=?utf-8?q?Re=3A_caf=C3=A9?=", body="Merci, café!\r\n".encode())
    notification = received(raw, encoding=encoding, dmarc_policy="reject", verdicts={"dmarc": "FAIL"})
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, notification)
    assert response.status_code == 200, response.content
    row = stored()
    assert row.message_id == notification["mail"]["messageId"]
    assert (row.action, row.source, row.recipients) == ("SNS", "bounces@example.net", ["support@example.com"])
    assert row.from_email == "Customer <customer@example.net>"
    assert row.to == ["support@example.com"]
    assert row.subject == "Re: café"
    assert row.text_body == "Merci, café!\r\n"
    assert (row.spam_verdict, row.virus_verdict, row.dmarc_verdict, row.dmarc_policy) == (
        "PASS", "PASS", "FAIL", "reject")
    assert row.size_bytes == len(raw)
    assert row.raw is None and "content" not in row.receipt
    assert row.received_at is not None and row.problems == []
    assert row.topic_arn == envelope()["TopicArn"]
    assert [s["inbound"] for s in signals] == [row]
    assert signals[0]["sender"] is InboundEmail
    assert signals[0]["raw"] == raw
    assert signals[0]["message"]["Subject"] == "Re: café"
    assert signals[0]["receipt"]["mail"]["messageId"] == row.message_id


def test_the_signal_waits_for_the_commit(client, inbound_on, signals, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert post(client, received()).status_code == 200
    assert signals == [] and len(callbacks) == 1
    callbacks[0]()
    assert len(signals) == 1


def test_the_same_receipt_again_stores_and_signals_nothing(client, inbound_on, signals,
                                                            django_capture_on_commit_callbacks):
    notification = received()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, notification).status_code == 200
        again = post(client, notification)  # An SNS retry, or a second rule: a new SNS MessageId.
    assert again.status_code == 200
    assert InboundEmail.objects.count() == 1
    assert len(signals) == 1


def test_a_receiver_that_raises_is_logged(client, inbound_on, caplog, django_capture_on_commit_callbacks):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    inbound_received.connect(broken, weak=False, dispatch_uid="broken")
    try:
        with caplog.at_level(logging.ERROR, "django_ses_query"):
            with django_capture_on_commit_callbacks(execute=True):
                response = post(client, received())
    finally:
        inbound_received.disconnect(dispatch_uid="broken")
    assert response.status_code == 200
    assert InboundEmail.objects.count() == 1
    assert any("inbound_received receiver" in r.getMessage() for r in caplog.records)


# -- Refused: nothing stored, nothing signalled ---------------------------------------


def test_forged_signature_stores_nothing(client, inbound_on, signals):
    message = envelope(message=received(), Timestamp=now(), key=OTHER_KEY)
    response = client.post(URL, json.dumps(message), content_type="text/plain")
    assert response.status_code == 403
    assert InboundEmail.objects.count() == 0 and signals == []


def test_foreign_topic_stores_nothing(client, inbound_on, signals):
    response = post(client, received(topic_arn=OTHER_TOPIC_ARN), TopicArn=OTHER_TOPIC_ARN)
    assert response.status_code == 403
    assert InboundEmail.objects.count() == 0 and signals == []


def test_unsigned_receipt_stores_nothing(client, inbound_on, signals):
    message = envelope(message=received(), Timestamp=now())
    del message["Signature"]
    response = client.post(URL, json.dumps(message), content_type="text/plain")
    assert response.status_code == 400
    altered = envelope(message=received(), Timestamp=now())
    altered["Message"] = json.dumps(received())  # Signed for another message.
    assert client.post(URL, json.dumps(altered), content_type="text/plain").status_code == 403
    assert InboundEmail.objects.count() == 0 and signals == []


def test_basic_auth_is_asked_first(client, settings, inbound_on, signals):
    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_BASIC_AUTH": "ses:s3cret"}
    assert post(client, received()).status_code == 401
    auth = "Basic " + base64.b64encode(b"ses:s3cret").decode()
    message = envelope(message=received(), Timestamp=now())
    response = client.post(URL, json.dumps(message), content_type="text/plain", HTTP_AUTHORIZATION=auth)
    assert response.status_code == 200
    assert InboundEmail.objects.count() == 1


def test_a_receipt_without_its_parts_is_400(client, inbound_on, caplog):
    broken = received()
    del broken["mail"]["messageId"]
    no_content = received()
    del no_content["content"]
    with caplog.at_level(logging.WARNING, "django_ses_query"):
        assert post(client, broken).status_code == 400
        assert post(client, no_content).status_code == 400
    assert InboundEmail.objects.count() == 0


# -- Verdicts and settings --------------------------------------------------------------


def test_fail_verdicts_are_stored_by_default(client, inbound_on):
    assert post(client, received(verdicts={"spam": "FAIL", "virus": "FAIL"})).status_code == 200
    row = stored()
    assert (row.spam_verdict, row.virus_verdict) == ("FAIL", "FAIL")


def test_discard_on_fail(client, settings, inbound_on, signals, caplog, django_capture_on_commit_callbacks):
    settings.SES_QUERY = {**settings.SES_QUERY, "INBOUND_DISCARD_ON_FAIL": ["virus"]}
    with caplog.at_level(logging.INFO, "django_ses_query"):
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, received(verdicts={"virus": "FAIL"})).status_code == 200
            assert post(client, received(verdicts={"spam": "FAIL"})).status_code == 200
    assert list(InboundEmail.objects.values_list("spam_verdict", flat=True)) == ["FAIL"]
    assert len(signals) == 1
    assert any("discarded: virus verdict FAIL" in r.getMessage() for r in caplog.records)


def test_store_raw(client, settings, inbound_on):
    settings.SES_QUERY = {**settings.SES_QUERY, "INBOUND_STORE_RAW": True}
    raw = raw_message()
    assert post(client, received(raw)).status_code == 200
    row = stored()
    assert bytes(row.raw) == raw
    assert "content" not in row.receipt


# -- Replies linked to the send log -----------------------------------------------------


@pytest.mark.parametrize("domain", ["email.amazonses.com", "eu-west-1.amazonses.com"])
def test_in_reply_to_links_the_sent_message(client, inbound_on, domain):
    log = EmailLog.objects.create(status="sent", message_id=SENT_ID)
    raw = raw_message(in_reply_to=f"<{SENT_ID}@{domain}>")
    assert post(client, received(raw)).status_code == 200
    row = stored()
    assert row.log_id == log.pk
    assert row.in_reply_to == f"{SENT_ID}@{domain}"
    assert list(log.replies.all()) == [row]


def test_references_are_read_from_last_to_first(client, inbound_on):
    older = EmailLog.objects.create(status="sent", message_id=SENT_ID)
    newer_id = SENT_ID.replace("11111111", "99999999")
    newer = EmailLog.objects.create(status="sent", message_id=newer_id)
    references = f"<{SENT_ID}@email.amazonses.com> <x@example.net> <{newer_id}@email.amazonses.com>"
    raw = raw_message(in_reply_to="<unknown@example.net>", references=references)
    assert post(client, received(raw)).status_code == 200
    row = stored()
    assert row.log_id == newer.pk != older.pk
    assert row.references == f"{SENT_ID}@email.amazonses.com x@example.net {newer_id}@email.amazonses.com"


def test_an_unknown_reply_is_stored_unlinked(client, inbound_on):
    raw = raw_message(in_reply_to=f"<{SENT_ID}@email.amazonses.com>")
    assert post(client, received(raw)).status_code == 200
    assert stored().log_id is None


def test_prunelog_keeps_replies(client, inbound_on):
    from django.core.management import call_command

    log = EmailLog.objects.create(status="sent", message_id=SENT_ID)
    EmailLog.objects.filter(pk=log.pk).update(created_at="2000-01-01T00:00:00Z")
    assert post(client, received(raw_message(in_reply_to=f"<{SENT_ID}@email.amazonses.com>"))).status_code == 200
    assert stored().log_id == log.pk
    call_command("ses_prunelog", "--days", "1", stdout=io.StringIO())
    assert not EmailLog.objects.filter(pk=log.pk).exists()
    assert stored().log_id is None


# -- Fitting the database ---------------------------------------------------------------


def test_nul_and_a_140_kb_header_line_are_stored_with_the_body(client, inbound_on, caplog):
    raw = raw_message(subject="Hi\x00there", extra=b"X-Long: " + b"y" * 140_000 + b"\r\n",
                      body=b"body\x00text\r\n")
    with caplog.at_level(logging.WARNING, "django_ses_query"):
        assert post(client, received(raw)).status_code == 200
    row = stored()
    assert row.subject == "Hithere"
    assert row.text_body == "bodytext\r\n"
    assert any(name == "X-Long" and len(value) == 140_000 for name, value in row.headers)
    assert any("NUL" in p and "text_body" in p for p in row.problems)
    assert any("changed to fit the database" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db(databases=["default", "sendlog"])
def test_rows_live_in_log_database(client, settings, inbound_on, signals, django_capture_on_commit_callbacks):
    settings.SES_QUERY = {**settings.SES_QUERY, "LOG_DATABASE": "sendlog"}
    log = EmailLog.objects.using("sendlog").create(status="sent", message_id=SENT_ID)
    with django_capture_on_commit_callbacks(using="sendlog", execute=True):
        response = post(client, received(raw_message(in_reply_to=f"<{SENT_ID}@email.amazonses.com>")))
    assert response.status_code == 200
    row = InboundEmail.objects.using("sendlog").get()
    assert row.log_id == log.pk
    assert len(signals) == 1
    if settings.DATABASES["sendlog"].get("TEST", {}).get("MIRROR") is None:
        assert not InboundEmail.objects.using("default").exists()


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "sendlog"], transaction=True)
def test_a_copy_stored_concurrently_is_stored_once(client, inbound_on, signals):
    """Another worker stores the same message between our check and our
    insert (simulated through a second connection): the unique message_id
    stops our copy, the answer is still a 200 and no signal is sent."""
    from django.db import connections
    from django.db.models.signals import pre_save

    if connections["default"].vendor != "postgresql":
        pytest.skip("needs two connections to one database (SES_QUERY_TEST_POSTGRES)")
    notification = received()
    mid = notification["mail"]["messageId"]

    def race(sender, instance, **kwargs):
        pre_save.disconnect(race, sender=InboundEmail)
        InboundEmail.objects.using("sendlog").create(message_id=mid, action="SNS", subject="the other copy")

    pre_save.connect(race, sender=InboundEmail)
    try:
        response = post(client, notification)
    finally:
        pre_save.disconnect(race, sender=InboundEmail)
    assert response.status_code == 200
    assert list(InboundEmail.objects.values_list("subject", flat=True)) == ["the other copy"]
    assert signals == []


def test_broken_base64_content_is_stored_as_far_as_it_goes(client, inbound_on):
    notification = received()
    notification["content"] = base64.b64encode(raw_message(body=b"cut short")).decode()[:-3]
    assert post(client, notification).status_code == 200
    row = stored()
    assert row.subject == "Re: your order" and row.text_body.startswith("cut")
    assert "base64 content is broken" in row.problems[0]
