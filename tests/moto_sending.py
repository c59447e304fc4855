"""What the moto integration tests share: settings pointing at moto's SES
server (``ses``), the requests on the wire (``wire``), and message helpers."""

from __future__ import annotations

import email
import email.policy
from urllib.parse import parse_qs

import django
import pytest
import requests
from django.core import mail
from django.core.mail import EmailMessage

from django_ses_query.client import USER_AGENT



DJANGO_61 = django.VERSION >= (6, 1)
needs_mailers = pytest.mark.skipif(not DJANGO_61, reason="MAILERS and using= are new in Django 6.1")

BACKEND = "django_ses_query.backend.EmailBackend"
SENDER = "sender@example.com"
UNVERIFIED_SENDER = "stranger@unverified.example"
IDN_DOMAIN = "bücher.example"
IDN_DOMAIN_ASCII = "xn--bcher-kva.example"
RAW_KINDS = {"SendEmail": "Message", "SendRawEmail": "RawMessage"}


def ses_query(moto_ses, **overrides) -> dict:
    """SES_QUERY for moto's endpoint and bootstrapped key."""
    value = {
        "ACCESS_KEY_ID": moto_ses.access_key_id,
        "SECRET_ACCESS_KEY": moto_ses.secret_access_key,
        "ENDPOINT_URL": moto_ses.endpoint_url,
        "REGION": moto_ses.region,
        "MAX_RETRIES": 0,
    }
    value.update(overrides)
    return {key: item for key, item in value.items() if item is not None}


@pytest.fixture
def ses(moto_ses, settings):
    """moto, clean; SES_QUERY pointing at it; Django's mail API using the backend."""
    moto_ses.reset_ses()
    moto_ses.verify_email_identity(SENDER)
    settings.SES_QUERY = ses_query(moto_ses)
    if DJANGO_61:
        settings.MAILERS = {"default": {"BACKEND": BACKEND}}
    else:
        settings.EMAIL_BACKEND = BACKEND
    return moto_ses


class Wire:
    """The requests this package's HTTP client made (not moto_ses's own)."""

    def __init__(self) -> None:
        self.requests: list[requests.PreparedRequest] = []

    @property
    def params(self) -> list[dict[str, str]]:
        out = []
        for request in self.requests:
            body = request.body.decode() if isinstance(request.body, bytes) else request.body
            out.append({k: v[0] for k, v in parse_qs(body or "", keep_blank_values=True).items()})
        return out

    def only(self) -> dict[str, str]:
        assert len(self.requests) == 1, self.params
        return self.params[0]


@pytest.fixture
def wire(ses, monkeypatch):
    recorded = Wire()
    send = requests.adapters.HTTPAdapter.send

    def spy(adapter, request, *args, **kwargs):
        if request.headers.get("User-Agent") == USER_AGENT:
            recorded.requests.append(request)
        return send(adapter, request, *args, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", spy)
    return recorded


def only_sent(moto_ses) -> dict:
    sent = moto_ses.sent_messages()
    assert len(sent) == 1, sent
    return sent[0]


def parse_raw(raw_data: str) -> email.message.EmailMessage:
    return email.message_from_string(raw_data, policy=email.policy.default)


def decoded_address(header_value: str):
    """``=?utf-8?b?...?= <a@b>`` → the parsed Address (display name decoded)."""
    [address] = email.policy.default.header_factory("To", header_value).addresses
    return address


def message(kind: str = "SendEmail", **kwargs) -> EmailMessage:
    """A message the backend sends as ``kind`` (an attachment makes it raw)."""
    kwargs.setdefault("subject", "Hello")
    kwargs.setdefault("body", "Hello there.\n")
    kwargs.setdefault("from_email", SENDER)
    kwargs.setdefault("to", ["to@example.net"])
    email_message = EmailMessage(**kwargs)
    if kind == "SendRawEmail":
        email_message.attach("note.txt", "attached\n", "text/plain")
    return email_message


def mailer():
    """A backend instance, as an application would get one."""
    return mail.mailers.default if DJANGO_61 else mail.get_connection()


def assert_7bit_crlf(raw_data: str) -> None:
    assert raw_data.isascii()
    assert "\n" not in raw_data.replace("\r\n", "") and "\r" not in raw_data.replace("\r\n", "")
    assert raw_data.endswith("\r\n")
    assert max(len(line) for line in raw_data.split("\r\n")) <= 998
