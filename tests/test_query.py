"""The Query serializer, checked byte for byte against botocore's.

botocore is the independent reference: its ``query`` serializer with the
``ses`` service model, then the form encoding its ``AWSRequest`` applies.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl

import botocore.session
import pytest
from botocore.awsrequest import AWSRequest
from botocore.serialize import create_serializer
from django.core.mail import EmailMessage, EmailMultiAlternatives

from django_ses_query import query
from django_ses_query.params import build_request

SES_MODEL = botocore.session.get_session().get_service_model("ses")
# Awkward for form encoding: non-ASCII (2-, 3- and 4-byte UTF-8), the
# characters urlencode treats specially, and CRLF.
AWKWARD = "Grüße 東京 🙂 ~*+&=%/?#;, \"quotes\" 'apostrophe'\r\nline two\r\n"


def botocore_body(action: str, params: dict) -> bytes:
    """What botocore sends for ``action`` with ``params`` (validated)."""
    operation = SES_MODEL.operation_model(action)
    serialized = create_serializer("query").serialize_to_request(params, operation)
    request = AWSRequest(
        method="POST",
        url="https://email.us-east-1.amazonaws.com/",
        data=serialized["body"],
        headers=serialized["headers"],
    )
    body = request.prepare().body
    return body.encode("ascii") if isinstance(body, str) else body


SEND_EMAIL_CASES = {
    "minimal": {
        "Source": "sender@example.com",
        "Destination": {"ToAddresses": ["to@example.com"]},
        "Message": {"Subject": {"Data": "Hello"}, "Body": {"Text": {"Data": "Hi"}}},
    },
    "everything": {
        "Source": "=?utf-8?b?SsO2c8Op?= <from@xn--exmple-cua.com>",
        "Destination": {
            "ToAddresses": ["a@example.com", "\"Doe, John\" <b@example.com>"],
            "CcAddresses": ["c+tag@example.com"],
            "BccAddresses": ["d@example.com", "e@example.com", "f@example.com"],
        },
        "Message": {
            "Subject": {"Data": AWKWARD, "Charset": "UTF-8"},
            "Body": {
                "Text": {"Data": AWKWARD * 3, "Charset": "UTF-8"},
                "Html": {"Data": f"<p>{AWKWARD}</p>", "Charset": "UTF-8"},
            },
        },
        "ReplyToAddresses": ["reply@example.com", "reply2@example.com"],
        "Tags": [{"Name": "campaign", "Value": "spring-2025"}, {"Name": "kind", "Value": "a_b"}],
        "ConfigurationSetName": "my-config_set",
    },
    "html only": {
        "Source": "sender@example.com",
        "Destination": {"BccAddresses": ["hidden@example.com"]},
        "Message": {
            "Subject": {"Data": "Ünïcödé"},
            "Body": {"Html": {"Data": "<b>1 + 1 = 2 & 2 * 2 = 4</b>"}},
        },
    },
}


@pytest.mark.parametrize("params", SEND_EMAIL_CASES.values(), ids=SEND_EMAIL_CASES.keys())
def test_send_email_body_equals_botocore(params):
    assert query.encode("SendEmail", params) == botocore_body("SendEmail", params)


@pytest.mark.parametrize(
    "mime",
    [
        b"Subject: plain\r\n\r\nbody\r\n",
        # Every byte value, so the base64 holds '+', '/' and '=' padding.
        bytes(range(256)) * 3 + b"\x00",
        ("Subject: =?utf-8?q?x?=\r\n\r\n" + AWKWARD).encode("utf-8"),
    ],
    ids=["ascii", "all-bytes", "utf-8"],
)
def test_send_raw_email_body_equals_botocore(mime):
    ours = {
        "Source": "Grüße <sender@example.com>",
        "Destinations": ["to@example.com", "cc@example.com", "bcc@example.com"],
        "RawMessage": {"Data": base64.b64encode(mime).decode("ascii")},
        "Tags": [{"Name": "t", "Value": "v"}],
        "ConfigurationSetName": "set",
    }
    # botocore takes the raw bytes and base64-encodes them itself.
    reference = {**ours, "RawMessage": {"Data": mime}}
    assert query.encode("SendRawEmail", ours) == botocore_body("SendRawEmail", reference)


def test_lists_are_member_numbered_from_one():
    body = query.encode(
        "SendEmail",
        {"Destination": {"ToAddresses": ["a@example.com", "b@example.com"]}},
    )
    assert parse_qsl(body.decode("ascii")) == [
        ("Action", "SendEmail"),
        ("Version", "2010-12-01"),
        ("Destination.ToAddresses.member.1", "a@example.com"),
        ("Destination.ToAddresses.member.2", "b@example.com"),
    ]


def test_none_values_are_left_out():
    body = query.encode("SendEmail", {"Source": "a@example.com", "ConfigurationSetName": None})
    assert dict(parse_qsl(body.decode("ascii"))) == {
        "Action": "SendEmail",
        "Version": "2010-12-01",
        "Source": "a@example.com",
    }


def test_round_trips_through_a_form_parser():
    body = query.encode("SendEmail", {"Message": {"Subject": {"Data": AWKWARD}}})
    assert body.isascii()
    assert dict(parse_qsl(body.decode("ascii")))["Message.Subject.Data"] == AWKWARD


def test_a_built_send_email_request_equals_botocore():
    message = EmailMultiAlternatives(
        AWKWARD.replace("\r\n", " "),
        AWKWARD,
        "Jösé <from@exämple.com>",
        ["to@example.com", "Zoë <zoe@example.com>"],
        bcc=["bcc@example.com"],
        cc=["cc@example.com"],
        reply_to=["reply@example.com"],
        headers={"X-SES-CONFIGURATION-SET": "set1", "X-SES-MESSAGE-TAGS": "a=b, c=d"},
    )
    message.attach_alternative(f"<p>{AWKWARD}</p>", "text/html")
    request = build_request(message)
    assert request.action == "SendEmail"
    # Written out independently of the package.
    expected = {
        "Source": "=?utf-8?b?SsO2c8Op?= <from@xn--exmple-cua.com>",
        "Destination": {
            "ToAddresses": ["to@example.com", "=?utf-8?q?Zo=C3=AB?= <zoe@example.com>"],
            "CcAddresses": ["cc@example.com"],
            "BccAddresses": ["bcc@example.com"],
        },
        "Message": {
            "Subject": {"Data": AWKWARD.replace("\r\n", " "), "Charset": "UTF-8"},
            "Body": {
                "Text": {"Data": AWKWARD, "Charset": "UTF-8"},
                "Html": {"Data": f"<p>{AWKWARD}</p>", "Charset": "UTF-8"},
            },
        },
        "ReplyToAddresses": ["reply@example.com"],
        "Tags": [{"Name": "a", "Value": "b"}, {"Name": "c", "Value": "d"}],
        "ConfigurationSetName": "set1",
    }
    assert request.body == botocore_body("SendEmail", expected)


def test_a_built_send_raw_email_request_equals_botocore():
    message = EmailMessage(
        "Grüße",
        AWKWARD,
        "from@example.com",
        ["to@example.com"],
        cc=["cc@example.com"],
        bcc=["bcc@example.com"],
    )
    message.attach("data.bin", bytes(range(256)), "application/octet-stream")
    request = build_request(message)
    assert request.action == "SendRawEmail"
    mime = base64.b64decode(request.params["RawMessage"]["Data"], validate=True)
    expected = {
        "Source": "from@example.com",
        "Destinations": ["to@example.com", "cc@example.com", "bcc@example.com"],
        "RawMessage": {"Data": mime},
    }
    assert request.body == botocore_body("SendRawEmail", expected)


def test_form_encoding_is_urlencode_byte_for_byte():
    """Every byte value and a spread of code points (1- to 4-byte UTF-8),
    as names and values: what urlencode(..., encoding="utf-8") writes."""
    from urllib.parse import urlencode

    texts = [chr(code) for code in [*range(0x800), *range(0x800, 0xD800, 97), *range(0xE000, 0x110000, 4099)]]
    texts += [AWKWARD, "", " ", "a b+c", "%41"]
    pairs = [(text, text[::-1] + "x") for text in texts] + [(bytes([b]), bytes([b, 32, 255 - b])) for b in range(256)]
    expected = urlencode([("Action", "SendEmail"), ("Version", query.API_VERSION), *pairs], encoding="utf-8")
    assert query.encode("SendEmail", pairs) == expected.encode("ascii")
