"""Addresses as SES takes them: punycode domains, RFC 2047 display names, no
non-ASCII local parts, no CR/LF; refused before anything is sent."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.utils import getaddresses

import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives

from django_ses_query.addresses import format_address
from django_ses_query.exceptions import SESError, SESInvalidMessageError

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])


def decoded(formatted: str) -> tuple[str, str]:
    """(display name, address) of one formatted address, encoded-words decoded."""
    [(name, address)] = getaddresses([formatted])
    return str(make_header(decode_header(name))) if name else "", address


@pytest.mark.parametrize(
    "address,expected",
    [
        ("user@exämple.com", "user@xn--exmple-cua.com"),
        ("user@bücher.example", "user@xn--bcher-kva.example"),
        ("user@例え.テスト", "user@xn--r8jz45g.xn--zckzah"),
        ("user@example.com", "user@example.com"),
    ],
)
def test_idn_domains_become_punycode(address, expected):
    formatted = format_address(address)
    assert formatted.isascii()
    assert decoded(formatted) == ("", expected)


@pytest.mark.parametrize(
    "address,name,bare",
    [
        ("Jösé Müller <jose@example.com>", "Jösé Müller", "jose@example.com"),
        (("Zoë, the «boss»", "zoe@example.com"), "Zoë, the «boss»", "zoe@example.com"),
        ('"Doe, John" <john@example.com>', "Doe, John", "john@example.com"),
        (("東京 太郎", "taro@例え.テスト"), "東京 太郎", "taro@xn--r8jz45g.xn--zckzah"),
        (("Plain Name", "plain@example.com"), "Plain Name", "plain@example.com"),
    ],
)
def test_display_names_are_encoded_and_round_trip(address, name, bare):
    formatted = format_address(address)
    assert formatted.isascii()
    assert decoded(formatted) == (name, bare)
    if not name.isascii():
        assert "=?utf-8?" in formatted.lower()


@pytest.mark.parametrize(
    "address",
    ["jösé@example.com", "Name <用户@example.com>", ("Name", "ñ@example.com")],
)
def test_non_ascii_local_part_is_refused(address):
    with pytest.raises(SESInvalidMessageError) as caught:
        format_address(address)
    assert caught.value.code == "NonAsciiLocalPart"
    assert "non-ASCII" in str(caught.value)


@pytest.mark.parametrize(
    "address",
    ["a@example.com\r\nBcc: evil@example.com", "a@example.com\nX: y", ("Na\rme", "a@example.com")],
)
def test_newlines_in_addresses_are_refused(address):
    with pytest.raises(ValueError) as caught:
        format_address(address)
    assert isinstance(caught.value, SESInvalidMessageError)
    assert caught.value.code == "InvalidAddress"


@pytest.mark.parametrize("address", ["no-at-sign", "@example.com", "user@", "a@example.com, b@example.com"])
def test_malformed_addresses_are_refused(address):
    with pytest.raises(SESInvalidMessageError) as caught:
        format_address(address)
    assert caught.value.code == "InvalidAddress"


# -- Through the backend, against the local endpoint --------------------------


def test_idn_and_encoded_names_reach_ses(backend, fake_ses):
    message = EmailMessage(
        "Hi", "Body", "Jösé <from@exämple.com>",
        ["Zoë <zoe@bücher.example>"], cc=["cc@exämple.com"], bcc=["Bé <bcc@exämple.com>"],
        reply_to=["Réply <reply@exämple.com>"],
    )
    assert backend.send_messages([message]) == 1
    [sent] = fake_ses.sent
    assert sent.params["Action"] == "SendEmail"
    for key in ("Source", "Destination.ToAddresses.member.1", "Destination.CcAddresses.member.1",
                "Destination.BccAddresses.member.1", "ReplyToAddresses.member.1"):
        assert sent.params[key].isascii(), key
    assert decoded(sent.params["Source"]) == ("Jösé", "from@xn--exmple-cua.com")
    assert decoded(sent.params["Destination.ToAddresses.member.1"]) == ("Zoë", "zoe@xn--bcher-kva.example")
    assert decoded(sent.params["Destination.CcAddresses.member.1"]) == ("", "cc@xn--exmple-cua.com")
    assert decoded(sent.params["Destination.BccAddresses.member.1"]) == ("Bé", "bcc@xn--exmple-cua.com")
    assert decoded(sent.params["ReplyToAddresses.member.1"]) == ("Réply", "reply@xn--exmple-cua.com")


def test_raw_send_source_and_destinations_are_ascii(backend, fake_ses):
    message = EmailMessage("Hi", "Body", "Jösé <from@exämple.com>", ["Zoë <zoe@bücher.example>"],
                           headers={"X-Custom": "1"})
    assert backend.send_messages([message]) == 1
    [sent] = fake_ses.sent
    assert sent.params["Action"] == "SendRawEmail"
    assert decoded(sent.params["Source"]) == ("Jösé", "from@xn--exmple-cua.com")
    assert sent.params["Destinations.member.1"] == "zoe@xn--bcher-kva.example"


@pytest.mark.parametrize("field", ["from_email", "to", "cc", "bcc", "reply_to"])
@pytest.mark.parametrize("raw", [False, True], ids=["SendEmail", "SendRawEmail"])
def test_non_ascii_local_part_is_refused_before_sending(backend, fake_ses, field, raw):
    kwargs = {"from_email": "from@example.com", "to": ["to@example.com"]}
    kwargs[field] = "jösé@example.com" if field == "from_email" else ["jösé@example.com"]
    message = EmailMessage("Hi", "Body", headers={"X-Custom": "1"} if raw else None, **kwargs)
    with pytest.raises(SESInvalidMessageError) as caught:
        backend.send_messages([message])
    assert caught.value.code == "NonAsciiLocalPart"
    assert "jösé@example.com" in str(caught.value)
    assert fake_ses.requests == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"subject": "Hello\r\nBcc: evil@example.com"},
        {"subject": "Hello\nthere"},
        {"to": ["to@example.com\r\nBcc: evil@example.com"]},
        {"cc": ["cc@example.com\nBcc: evil@example.com"]},
        {"reply_to": ["r@example.com\rX: y"]},
        {"from_email": "from@example.com\r\nBcc: evil@example.com"},
    ],
    ids=["subject crlf", "subject lf", "to", "cc", "reply-to", "from"],
)
@pytest.mark.parametrize("raw", [False, True], ids=["SendEmail", "SendRawEmail"])
def test_newlines_are_refused_before_sending(backend, fake_ses, kwargs, raw):
    fields = {"subject": "Hi", "body": "Body", "from_email": "from@example.com", "to": ["to@example.com"],
              "headers": {"X-Custom": "1"} if raw else None, **kwargs}
    message = EmailMessage(**fields)
    with pytest.raises(ValueError) as caught:
        backend.send_messages([message])
    assert isinstance(caught.value, SESError)
    assert fake_ses.requests == []


def test_html_alternative_with_idn_recipient_uses_send_email(backend, fake_ses):
    message = EmailMultiAlternatives("Hi", "Body", "from@example.com", ["user@exämple.com"])
    message.attach_alternative("<p>Body</p>", "text/html")
    assert backend.send_messages([message]) == 1
    assert fake_ses.sent[0].params["Destination.ToAddresses.member.1"] == "user@xn--exmple-cua.com"


def test_long_non_ascii_display_name_is_split_into_short_encoded_words():
    from email.header import decode_header, make_header

    name = "Ünïcödé Nämé " * 8
    formatted = format_address((name, "someone@example.com"))
    words, _, address = formatted.rpartition(" <")
    assert address == "someone@example.com>"
    assert all(len(word) <= 75 for word in words.split())
    assert len(words.split()) > 1
    assert str(make_header(decode_header(words))) == name
