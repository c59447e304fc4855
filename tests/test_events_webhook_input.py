"""The webhook's input rules: size (413), shape (400), what is refused
before any certificate is fetched (403), and log lines no value can break."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from django_ses_query.events.views import MAX_BODY
from django_ses_query.models import EmailEvent, EmailLog, Suppression
from tests import sesevents
from tests.snskeys import envelope

pytestmark = pytest.mark.django_db

URL = "/ses/events/"
MID = "0100018c4f6a1b2c-11111111-2222-3333-4444-555555555555-000000"
DEEP = "[" * 200_000 + "]" * 200_000


def post(client, message, **extra):
    body = message if isinstance(message, (bytes, str)) else json.dumps(message)
    body = body if isinstance(body, bytes) else body.encode("utf-8")
    return client.generic("POST", URL, body, content_type="text/plain; charset=UTF-8", **extra)


def ours(caplog):
    return [r for r in caplog.records if r.name == "django_ses_query"]


def assert_answered(response, status, caplog, level=logging.WARNING):
    """``status``, one line at ``level`` from this app (no traceback),
    nothing stored."""
    assert response.status_code == status
    [record] = [r for r in ours(caplog) if r.levelno >= logging.WARNING]
    assert record.levelno == level
    assert not record.exc_info and len(record.getMessage().splitlines()) == 1
    assert EmailEvent.objects.count() == 0
    return record.getMessage()


# -- Size ---------------------------------------------------------------------------------


def test_a_body_over_1_mib_is_413(client, events_on, caplog):
    message = envelope(message={**sesevents.delivery(MID, "a@example.net"), "padding": "x" * MAX_BODY})
    with caplog.at_level(logging.INFO):
        assert_answered(post(client, message), 413, caplog)
    assert events_on.requests == []


def test_413_comes_from_content_length_before_the_body_is_read(client, events_on):
    response = client.generic("POST", URL, b"{}", content_type="text/plain", CONTENT_LENGTH=str(MAX_BODY + 1))
    assert response.status_code == 413


def test_an_envelope_holding_a_256_kib_message_fits_with_its_escaping(client, events_on):
    # A message of SNS's largest size, rich in characters JSON escapes twice
    # (once in the message, once in the envelope).
    payload = sesevents.delivery(MID, "a@example.net")
    payload["mail"]["headers"] = [{"name": "X-Quote", "value": '"\\' * 40}]
    text = json.dumps(payload)
    text = text[:-1] + ', "padding": "' + '\\"' * ((256 * 1024 - len(text) - 16) // 2) + '"}'
    assert 256 * 1024 - 16 <= len(text) <= 256 * 1024
    body = json.dumps(envelope(message=text))
    assert len(body) > 2 * 256 * 1024
    assert post(client, body).status_code == 200
    assert EmailEvent.objects.count() == 1


def test_a_200_kib_message_is_stored(client, events_on):
    payload = sesevents.delivery(MID, "a@example.net")
    payload["mail"]["headers"] = [{"name": f"X-{i}", "value": "v" * 1000} for i in range(200)]
    assert post(client, envelope(message=payload)).status_code == 200
    assert len(EmailEvent.objects.get().payload["mail"]["headers"]) == 200


# -- 400 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [DEEP, "{" + '"a":{' * 65 + "}" * 65 + "}", "[" * 300_000, b'{"Type": "\xff"}', "{", "[]"],
    ids=["deep", "65 levels", "deep unclosed", "not utf-8", "not json", "not an object"],
)
def test_an_envelope_that_is_not_json_we_read_is_400(client, events_on, caplog, body):
    with caplog.at_level(logging.INFO):
        assert_answered(post(client, body), 400, caplog)
    assert events_on.requests == []


def test_a_signed_message_nested_too_deep_is_400(client, events_on, caplog):
    with caplog.at_level(logging.INFO):
        assert_answered(post(client, envelope(message=DEEP)), 400, caplog)


def test_64_levels_are_read(client, events_on):
    payload = sesevents.delivery(MID, "a@example.net")
    nested = {}
    for _ in range(61):
        nested = {"n": nested}
    payload["mail"]["tags"] = nested
    assert post(client, envelope(message=payload)).status_code == 200


def test_a_lone_surrogate_in_the_envelope_is_400(client, events_on, caplog):
    body = json.dumps(envelope(message=sesevents.delivery(MID, "a@example.net"), subject="S"))
    body = body.replace('"Subject": "S"', '"Subject": "\\ud800"')
    with caplog.at_level(logging.INFO):
        assert_answered(post(client, body), 400, caplog)


def test_a_lone_surrogate_in_the_signed_message_is_400(client, events_on, caplog):
    text = json.dumps(sesevents.delivery(MID, "a@example.net")).replace("a@example.net", "\\udc80@example.net")
    with caplog.at_level(logging.INFO):
        assert_answered(post(client, envelope(message=text)), 400, caplog)
    # A pair of surrogates is one character: fine.
    pair = json.dumps(sesevents.delivery(MID, "a@example.net")).replace("a@example.net", "\\ud83d\\ude00@x.net")
    assert post(client, envelope(message=pair)).status_code == 200


@pytest.mark.parametrize("message", [[], "[]", "1", '"text"'])
def test_a_message_that_is_not_a_string_holding_an_object_is_400(client, events_on, caplog, message):
    data = envelope()
    data["Message"] = message
    if isinstance(message, str):
        data = envelope(message=message)
    with caplog.at_level(logging.INFO):
        assert_answered(post(client, data), 400, caplog)


@pytest.mark.parametrize("field", ["MessageId", "Subject", "Timestamp", "TopicArn", "Type", "SigningCertURL",
                                   "UnsubscribeURL", "Signature"])
@pytest.mark.parametrize("character", ["\n", "\r", "\x00", "\x1b", "\x85", "\u2028"])
def test_a_control_character_outside_message_is_400_before_any_fetch(client, events_on, caplog, field,
                                                                     character):
    message = envelope(message=sesevents.delivery(MID, "a@example.net"), subject="Subject")
    message[field] = message[field] + character + "x"
    with caplog.at_level(logging.INFO):
        assert_answered(post(client, message), 400, caplog)
    assert events_on.requests == []


def test_a_subject_slid_into_the_message_id_is_400(client, events_on):
    """SNS signs ``name\\nvalue\\n`` pairs: the same signed bytes, read as
    another MessageId without a Subject, would still verify."""
    EmailLog.objects.create(status="sent", message_id=MID, to=["a@example.net"])
    genuine = envelope(message=sesevents.complaint(MID, "a@example.net"), subject="S")
    assert post(client, genuine).status_code == 200
    slid = {k: v for k, v in genuine.items() if k != "Subject"}
    slid["MessageId"] = f"{genuine['MessageId']}\nSubject\nS"
    Suppression.objects.all().delete()
    assert post(client, slid).status_code == 400
    assert EmailEvent.objects.count() == 1
    assert not Suppression.objects.exists()


def test_a_message_id_over_128_characters_is_400(client, events_on, caplog):
    with caplog.at_level(logging.INFO):
        assert_answered(post(client, envelope(MessageId="m" * 129, message=sesevents.send(MID))), 400, caplog)
    assert events_on.requests == []
    assert post(client, envelope(MessageId="m" * 128, message=sesevents.send(MID))).status_code == 200


@pytest.mark.parametrize("value", ["yesterday", "2026-01-02", "2026-01-02 03:04:05Z", "2026-01-02T03:04:05",
                                   "2026-13-02T03:04:05Z", "2026-01-02T03:04:05.678Z0", ""])
def test_a_timestamp_that_is_not_iso_8601_is_400(client, events_on, caplog, value):
    with caplog.at_level(logging.INFO):
        assert_answered(post(client, envelope(Timestamp=value)), 400, caplog)
    assert events_on.requests == []


# -- 403 before any network call ---------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    ["not base64!", base64.b64encode(b"\x01" * 255).decode(), base64.b64encode(b"\x01" * 513).decode(),
     base64.b64encode(b"\x01" * 256).decode()[:-4], ""],
    ids=["not base64", "255 bytes", "513 bytes", "truncated", "empty"],
)
def test_a_signature_of_the_wrong_form_is_403_before_any_fetch(client, events_on, caplog, signature):
    message = envelope(message=sesevents.delivery(MID, "a@example.net"))
    message["Signature"] = signature
    with caplog.at_level(logging.INFO):
        assert_answered(post(client, message), 403, caplog)
    assert events_on.requests == []


@pytest.mark.parametrize("version", ["3", "0", "", "1.0"])
def test_an_unknown_signature_version_is_403_before_any_fetch(client, events_on, caplog, version):
    message = envelope(message=sesevents.delivery(MID, "a@example.net"))
    message["SignatureVersion"] = version
    with caplog.at_level(logging.INFO):
        assert_answered(post(client, message), 403, caplog)
    assert events_on.requests == []


@pytest.mark.parametrize("host", ["sns.s3.amazonaws.com", "sns.s3-us-west-2.amazonaws.com",
                                  "sns.execute-api.amazonaws.com", "sns.--.amazonaws.com",
                                  "sns.x.amazonaws.com.cn", "sns.us-east-1.amazonaws.com.cn",
                                  "sns.cn-north-1.amazonaws.com"])
@pytest.mark.parametrize("field", ["SigningCertURL", "SubscribeURL"])
def test_a_url_off_the_sns_hosts_is_403_and_never_contacted(client, events_on, caplog, host, field):
    kind = "Notification" if field == "SigningCertURL" else "SubscriptionConfirmation"
    url = (f"https://{host}/SimpleNotificationService-0123456789abcdef.pem" if field == "SigningCertURL"
           else f"https://{host}/?Action=ConfirmSubscription&Token=t")
    with caplog.at_level(logging.INFO):
        assert_answered(post(client, envelope(kind, **{field: url})), 403, caplog)
    assert events_on.requests == []


# -- Log lines ----------------------------------------------------------------------------------


def test_no_value_from_the_request_starts_a_log_line(client, events_on, caplog):
    forged = "\nCRITICAL forged log line"
    messages = [
        envelope(MessageId="m" + forged),
        {**envelope(), "Type": "Other\u2028CRITICAL forged log line"},
        envelope(TopicArn="arn:aws:sns:us-east-1:999999999999:t"),
        {**envelope(), "Type": "Other" + forged},
        envelope(SigningCertURL="https://evil.example/x.pem#" + "y" * 500),
    ]
    with caplog.at_level(logging.DEBUG):
        for message in messages:
            assert post(client, message, REMOTE_ADDR="10.0.0.1\r\nCRITICAL forged").status_code in (400, 403)
        assert post(client, envelope(message={"eventType": "Nope" + forged})).status_code == 400
    for record in caplog.records:
        text = record.getMessage()
        assert len(text.splitlines()) == 1, text
        assert "CRITICAL forged" not in text.split("\\")[0]
        assert len(text) < 1500
    assert any("\\nCRITICAL forged" in r.getMessage() for r in ours(caplog))  # Escaped, still readable.
    assert any("\\u2028" in r.getMessage() for r in ours(caplog))
    assert any("'10.0.0.1\\r\\nCRITICAL forged'" in r.getMessage() for r in ours(caplog))
