"""Raw MIME for SendRawEmail: 7-bit only, CRLF line endings, no Bcc, and the
same content once parsed back."""

from __future__ import annotations

import base64
import email
import os
from email import policy
from email.message import EmailMessage as StdlibMessage
from email.mime.text import MIMEText
from io import BytesIO

import django
import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives

from django_ses_query.mime import raw_message_bytes, to_7bit
from tests.mailparts import PNG, inline_image


def assert_sendable(data: bytes) -> None:
    """What SES accepts: 7-bit bytes, CRLF only, lines of at most 998."""
    assert all(byte < 128 for byte in data), "8-bit byte in the raw message"
    lines = data.split(b"\r\n")
    assert not any(b"\n" in line or b"\r" in line for line in lines), "bare CR or LF"
    assert max(len(line) for line in lines) <= 998


def parse(data: bytes):
    return email.message_from_bytes(data, policy=policy.default)


def text_parts(message) -> dict[str, str]:
    """content type → text with newlines normalised, for inline text parts."""
    found = {}
    for part in message.walk():
        if part.is_multipart() or part.get_filename():
            continue
        if part.get_content_maintype() == "text":
            found[part.get_content_type()] = normalise(part.get_content())
    return found


def attachments(message) -> dict[str, bytes]:
    return {
        part.get_filename(): part.get_payload(decode=True)
        for part in message.walk()
        if part.get_filename()
    }


def normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


def flatten(message) -> bytes:
    from email.generator import BytesGenerator

    buffer = BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=message.policy).flatten(
        message, linesep="\r\n"
    )
    return buffer.getvalue()


BODY = "Grüße aus Köln 🙂\nSecond line with trailing space \nTab\tend\n" + "ж" * 700 + "\n"


def test_non_ascii_body_and_attachments_round_trip():
    message = EmailMultiAlternatives(
        "Ünïcödé subject",
        BODY,
        "Jösé <from@example.com>",
        ["to@example.com"],
        cc=["cc@example.com"],
        bcc=["secret-bcc@example.com"],
    )
    message.attach_alternative(f"<p>{BODY}</p>", "text/html")
    message.attach("résumé.txt", "café\nnaïve\n", "text/plain")
    message.attach("data.bin", bytes(range(256)) * 4, "application/octet-stream")
    message.attach(inline_image())

    data = raw_message_bytes(message)

    assert_sendable(data)
    parsed = parse(data)
    assert parsed["Subject"] == "Ünïcödé subject"
    assert parsed["From"].addresses[0].display_name == "Jösé"
    assert parsed["Cc"] == "cc@example.com"
    assert parsed["Bcc"] is None
    assert b"secret-bcc" not in data
    assert text_parts(parsed) == {"text/plain": normalise(BODY), "text/html": normalise(f"<p>{BODY}</p>")}
    found = attachments(parsed)
    assert normalise(found["résumé.txt"].decode("utf-8")) == "café\nnaïve"
    assert found["data.bin"] == bytes(range(256)) * 4
    assert found["logo.png"] == PNG


def test_crlf_and_bare_cr_in_the_body_become_crlf():
    message = EmailMessage("s", "one\r\ntwo\rthree\nfour é", "f@example.com", ["t@example.com"])
    message.attach("x.csv", "a,b\r\nc,d\r\n", "text/csv")
    data = raw_message_bytes(message)
    assert_sendable(data)
    parsed = parse(data)
    assert text_parts(parsed)["text/plain"] == "one\ntwo\nthree\nfour é"
    assert normalise(attachments(parsed)["x.csv"].decode()) == "a,b\nc,d"


def test_long_lines_are_wrapped_without_changing_the_text():
    long_line = "word " * 1000
    message = EmailMessage("s", long_line, "f@example.com", ["t@example.com"])
    message.attach("long.txt", "y" * 5000, "text/plain")
    data = raw_message_bytes(message)
    assert_sendable(data)
    parsed = parse(data)
    assert text_parts(parsed)["text/plain"] == normalise(long_line)
    assert normalise(attachments(parsed)["long.txt"].decode()) == "y" * 5000


def test_other_charset():
    message = EmailMessage("Café", "Crème brûlée", "f@example.com", ["t@example.com"])
    message.encoding = "iso-8859-1"
    data = raw_message_bytes(message)
    assert_sendable(data)
    parsed = parse(data)
    assert parsed.get_content_charset() == "iso-8859-1"
    assert normalise(parsed.get_content()) == "Crème brûlée"


def test_removed_headers_are_gone():
    message = EmailMessage(
        "s", "b", "f@example.com", ["t@example.com"],
        headers={"X-SES-CONFIGURATION-SET": "set", "x-ses-message-tags": "a=b", "X-Keep": "1"},
    )
    parsed = parse(raw_message_bytes(message, remove_headers=("X-SES-CONFIGURATION-SET", "X-SES-MESSAGE-TAGS")))
    assert parsed["X-SES-CONFIGURATION-SET"] is None
    assert parsed["X-SES-MESSAGE-TAGS"] is None
    assert parsed["X-Keep"] == "1"


def test_to_7bit_reencodes_an_8bit_text_part():
    message = StdlibMessage()
    message["Subject"] = "x"
    message.set_content("héllo wörld\n" * 3, cte="8bit")
    assert not all(b < 128 for b in flatten(message))
    to_7bit(message)
    data = flatten(message)
    assert_sendable(data)
    assert normalise(parse(data).get_content()) == normalise("héllo wörld\n" * 3)


def test_to_7bit_reencodes_8bit_latin1_text():
    message = email.message_from_bytes(
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nd\xe9j\xe0 vu\r\n"
    )
    to_7bit(message)
    data = flatten(message)
    assert_sendable(data)
    assert normalise(parse(data).get_content()) == "déjà vu"


def test_to_7bit_reencodes_a_binary_attachment():
    payload = os.urandom(3000)
    message = StdlibMessage()
    message.set_content("plain")
    message.add_attachment(payload, maintype="application", subtype="octet-stream", filename="r.bin")
    # Pretend it was sent 8-bit.
    part = list(message.iter_attachments())[0]
    part.replace_header("Content-Transfer-Encoding", "8bit")
    part.set_payload(payload.decode("ascii", "surrogateescape"))
    to_7bit(message)
    data = flatten(message)
    assert_sendable(data)
    assert attachments(parse(data))["r.bin"] == payload


def test_to_7bit_wraps_an_overlong_7bit_line():
    text = MIMEText("x" * 1500 + "\nshort\n", "plain", "us-ascii")
    assert text["Content-Transfer-Encoding"] == "7bit"
    to_7bit(text)
    data = flatten(text)
    assert_sendable(data)
    assert normalise(parse(data).get_content()) == "x" * 1500 + "\nshort"


def test_already_7bit_parts_are_left_alone():
    message = EmailMessage("s", "plain ascii", "f@example.com", ["t@example.com"])
    data = raw_message_bytes(message)
    assert b"Content-Transfer-Encoding: 7bit" in data
    assert data.endswith(b"plain ascii\r\n") or data.endswith(b"plain ascii")


@pytest.mark.parametrize("header", ["Subject", "X-Custom"])
def test_newlines_in_headers_are_refused(header):
    kwargs = {"subject": "a\r\nBcc: evil@example.com"} if header == "Subject" else {
        "subject": "s", "headers": {"X-Custom": "a\nBcc: evil@example.com"}
    }
    message = EmailMessage(body="b", from_email="f@example.com", to=["t@example.com"], **kwargs)
    with pytest.raises(ValueError):
        raw_message_bytes(message)


# -- Long header values (Django 5.2's compat32 policy does not fold them) -------------

DJANGO_FOLDS_EVERY_HEADER = django.VERSION >= (6, 0)


def sent_raw(fake_ses, message) -> bytes:
    from django_ses_query.backend import EmailBackend

    assert EmailBackend().send_messages([message]) == 1
    [request] = fake_ses.sent
    return base64.b64decode(request.params["RawMessage.Data"])


@pytest.mark.django_db(databases=["default", "sendlog"])
@pytest.mark.parametrize(
    "subject", ["S" * 1200, "Ünïcödé " + "x" * 1200, "https://example.com/" + "a" * 1100 + " tail"]
)
def test_a_long_unbreakable_subject_is_folded(fake_ses, subject):
    message = EmailMessage(subject, "Body", "from@example.com", ["to@example.com"], headers={"X-Any": "1"})
    data = sent_raw(fake_ses, message)
    assert_sendable(data)
    # The same subject once decoded (Django 5.2's own encoded-words for
    # non-ASCII text decode with a leading space).
    assert parse(data)["Subject"].lstrip() == subject


@pytest.mark.django_db(databases=["default", "sendlog"])
def test_a_long_unbreakable_custom_header_is_folded(fake_ses):
    value = "v" * 1500
    message = EmailMessage("s", "Body", "from@example.com", ["to@example.com"], headers={"X-Tracking": value})
    data = sent_raw(fake_ses, message)
    assert_sendable(data)
    assert parse(data)["X-Tracking"] == value


@pytest.mark.django_db(databases=["default", "sendlog"])
def test_a_list_unsubscribe_url_longer_than_a_line_is_never_sent_on_one_line(fake_ses):
    from django_ses_query.backend import EmailBackend
    from django_ses_query.exceptions import SESInvalidMessageError
    from django_ses_query.models import EmailLog

    url = "<https://example.com/unsubscribe?token=" + "a" * 1200 + ">"
    message = EmailMessage("s", "Body", "from@example.com", ["to@example.com"], headers={"List-Unsubscribe": url})
    # A URL cannot be encoded or folded without changing it (Django 6's
    # encoded-words would reach no provider as a URL).
    with pytest.raises(SESInvalidMessageError) as caught:
        EmailBackend().send_messages([message])
    assert caught.value.code == "LineTooLong"
    assert "List-Unsubscribe" in str(caught.value)
    assert fake_ses.requests == []
    assert EmailLog.objects.get().error_code == "LineTooLong"


def test_short_headers_are_left_as_django_wrote_them():
    message = EmailMessage("Hello", "Body", "from@example.com", ["to@example.com"],
                           headers={"List-Unsubscribe": "<https://example.com/u>", "X-Any": "1"})
    data = raw_message_bytes(message)
    assert b"\r\nSubject: Hello\r\n" in data
    assert b"\r\nList-Unsubscribe: <https://example.com/u>\r\n" in data
