"""Received messages → the values kept: parsing (pure), hostile MIME in a
child process, and the hostile corpus through the webhook."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from django_ses_query.inbound.parse import decode_base64, parse_headers, parse_message
from django_ses_query.inbound.store import candidates
from tests import hostile_mime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_multipart_message():
    raw = (
        b"From: =?utf-8?q?J=C3=B6rg?= <j@example.net>\r\nTo: a@example.com, B <b@example.com>\r\n"
        b"Cc: c@example.com\r\nReply-To: r@example.net\r\nSubject: =?iso-8859-1?q?R=E9ponse?=\r\n"
        b"Message-ID: <m1@example.net>\r\nIn-Reply-To: <sent@email.amazonses.com>\r\n"
        b"References: <a@x> <b@y>\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n"
        b"--YY\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"caf=E9\r\n--YY\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>caf\xc3\xa9</p>\r\n--YY--\r\n"
        b"--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n"
        b"--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: forwarded\r\n\r\nold\r\n--XX--\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.from_email == "Jörg <j@example.net>"
    assert (parsed.to, parsed.cc, parsed.reply_to) == (["a@example.com", "B <b@example.com>"], ["c@example.com"],
                                                       ["r@example.net"])
    assert parsed.subject == "Réponse"
    assert (parsed.message_id_header, parsed.in_reply_to, parsed.references) == (
        "m1@example.net", ["sent@email.amazonses.com"], ["a@x", "b@y"])
    assert parsed.text_body == "café"
    assert parsed.html_body == "<p>café</p>"
    assert parsed.attachments[0] == {"filename": "résumé.pdf", "content_type": "application/pdf", "size": 8}
    assert parsed.attachments[1]["content_type"] == "message/rfc822"
    assert parsed.problems == []
    assert ["Subject", "Réponse"] in parsed.headers


def test_headers_only_from_the_notification():
    parsed = parse_headers([("From", "A <a@example.net>"), ("Subject", "Hi\r\nBcc: injected@example.net"),
                            ("Bad Name", "x")])
    assert parsed.from_email == "A <a@example.net>"
    assert parsed.subject == "Hi Bcc: injected@example.net"
    assert [name for name, _ in parsed.headers] == ["From", "Subject"]


@pytest.mark.parametrize("data, expected, broken", [
    (b"aGVsbG8gd29ybGQ=", b"hello world", False),
    (b"aGVs\r\nbG8=\r\n", b"hello", False),
    (b"aGVsbG8gd29ybGQ", b"hello world", True),
    (b"aGVsbG8*gd29y", b"hello wor", True),
    (b"aGVsbG8gd29ybGQx!", b"hello world1", True),
    (b"a", b"", True),
])
def test_base64_as_far_as_it_goes(data, expected, broken):
    assert decode_base64(data) == (expected, broken)


def test_reply_candidates():
    assert candidates(["X@email.amazonses.com"], ["A@eu-west-1.amazonses.com", "B@example.net",
                                                    "C@us-east-2.amazonses.com"]) == ["X", "C", "A"]
    assert candidates(["X@evil.amazonses.com.example.net"], []) == []


def test_hostile_mime_in_a_child_process():
    """Each case parses in the child (nothing raised, nothing slow), and
    what must survive does."""
    child = subprocess.run(
        [sys.executable, "-m", "tests.hostile_mime"], cwd=ROOT, capture_output=True, timeout=120,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert child.returncode == 0, child.stderr.decode()[-2000:]
    results = json.loads(child.stdout)
    for name, (_, expected) in hostile_mime.CASES.items():
        result = results[name]
        assert result["seconds"] < 1.5, name
        for field, value in expected.items():
            if field == "problem":
                assert any(value in problem for problem in result["problems"]), (name, result["problems"])
            else:
                assert result[field] == value, (name, field)


@pytest.mark.django_db
def test_the_hostile_corpus_through_the_webhook(client, settings, sns_adapter):
    from django_ses_query.models import InboundEmail
    from tests.inbound_mail import now, received
    from tests.snskeys import TOPIC_ARN, envelope

    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_TOPIC_ARNS": [TOPIC_ARN]}
    for name, (raw, expected) in hostile_mime.CASES.items():
        notification = received(raw)
        message = envelope(message=notification, Timestamp=now())
        response = client.post("/ses/events/", json.dumps(message), content_type="text/plain")
        assert response.status_code == 200, name
        row = InboundEmail.objects.get(message_id=notification["mail"]["messageId"])
        assert row.subject == expected.get("subject", row.subject), name
        assert bool(row.problems) == ("problem" in expected), name
