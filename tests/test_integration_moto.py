"""Sending through the backend to moto's SES server, with signatures checked.

Each test starts from a clean moto (``reset_ses()``: same key, ``SENDER``
verified) and ``SES_QUERY`` pointing at it. Mail goes through Django's own
API: on Django 5.2 ``EMAIL_BACKEND`` names this backend; on 6.1 ``MAILERS``
does (``default``, plus ``ses`` configured by its OPTIONS alone for the
``using=`` tests), and one test takes the deprecated ``EMAIL_BACKEND`` path
with exactly that warning filtered.

What moto records (see tests/moto_ses.py): for SendEmail the source, subject,
one body (HTML if any, else text) and the destinations; for SendRawEmail the
source, the raw data as text and the destinations (the ``Destinations``
parameter, then the message's To/Cc/Bcc header addresses). What it does not
record (the text part next to HTML, Reply-To, the configuration set, tags)
is checked on the wire.
"""

from __future__ import annotations

import email
import email.policy
import re
import warnings
from contextlib import contextmanager
from urllib.parse import parse_qs

import django
import pytest
import requests
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives, send_mail, send_mass_mail

from django_ses_query.client import USER_AGENT
from django_ses_query.exceptions import (
    SESAuthenticationError,
    SESError,
    SESInvalidMessageError,
    SESMessageRejectedError,
)
from django_ses_query.models import EmailLog

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

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


# -- sending -----------------------------------------------------------------


def test_send_mail_plain_text_is_send_email(ses, wire):
    sent_count = send_mail("Order 17", "Your order shipped.\n", SENDER, ["buyer@example.net"])

    assert sent_count == 1
    sent = only_sent(ses)
    assert sent["kind"] == "Message"
    assert sent["source"] == SENDER
    assert sent["subject"] == "Order 17"
    assert sent["body"] == "Your order shipped.\n"
    assert sent["destinations"] == {"ToAddresses": ["buyer@example.net"]}
    assert wire.only()["Action"] == "SendEmail"
    log = EmailLog.objects.get()
    assert log.status == EmailLog.Status.SENT
    assert log.action == "SendEmail"
    assert log.message_id == sent["id"]
    assert log.request_id
    assert log.to == ["buyer@example.net"]
    assert log.attempts == 1


def test_email_message_send_sets_ses_message_id(ses):
    email_message = EmailMessage("Hi", "Body\n", SENDER, ["to@example.net"])

    assert email_message.send() == 1

    sent = only_sent(ses)
    assert email_message.ses_message_id == sent["id"]
    assert email_message.ses_log == EmailLog.objects.get()
    assert email_message.ses_log.message_id == sent["id"]


def test_html_alternative_is_send_email_with_both_bodies(ses, wire):
    email_message = EmailMultiAlternatives("Newsletter", "Plain text\n", SENDER, ["to@example.net"])
    email_message.attach_alternative("<p>HTML <b>text</b></p>", "text/html")

    assert email_message.send() == 1

    sent = only_sent(ses)
    assert sent["kind"] == "Message"
    assert sent["body"] == "<p>HTML <b>text</b></p>"  # moto keeps the HTML part only.
    params = wire.only()
    assert params["Message.Body.Text.Data"] == "Plain text\n"
    assert params["Message.Body.Html.Data"] == "<p>HTML <b>text</b></p>"
    assert email_message.ses_message_id == sent["id"]


def test_send_mail_html_message(ses, wire):
    assert send_mail("Hi", "text\n", SENDER, ["to@example.net"], html_message="<p>html</p>") == 1

    assert only_sent(ses)["body"] == "<p>html</p>"
    assert wire.only()["Message.Body.Text.Data"] == "text\n"


def test_attachments_are_raw_7bit_with_crlf(ses, wire):
    binary = bytes(range(256)) * 4
    body = "Grüße aus Köln.\n" + "x" * 1500 + "\nlast line\n"
    email_message = EmailMultiAlternatives("Fäktura №7", body, SENDER, ["to@example.net"])
    email_message.attach_alternative("<p>Grüße</p>", "text/html")
    email_message.attach("notes.txt", "naïve café\n", "text/plain")
    email_message.attach("blob.bin", binary, "application/octet-stream")

    assert email_message.send() == 1

    sent = only_sent(ses)
    assert sent["kind"] == "RawMessage"
    assert email_message.ses_message_id == sent["id"]
    assert wire.only()["Action"] == "SendRawEmail"
    raw_data = sent["raw_data"]
    assert_7bit_crlf(raw_data)
    parsed = parse_raw(raw_data)
    assert parsed["Subject"] == "Fäktura №7"
    assert parsed["From"] == SENDER
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == body
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Grüße</p>"
    attachments = {part.get_filename(): part for part in parsed.iter_attachments()}
    assert attachments["notes.txt"].get_content().replace("\r\n", "\n") == "naïve café\n"
    assert attachments["blob.bin"].get_content() == binary
    log = EmailLog.objects.get()
    assert (log.action, log.message_id) == ("SendRawEmail", sent["id"])


def test_cc_and_bcc_on_send_email(ses, wire):
    email_message = EmailMessage(
        "Hi", "Body\n", SENDER, ["to@example.net"], cc=["cc@example.net"], bcc=["bcc@example.net"],
        reply_to=["replies@example.com"],
    )

    assert email_message.send() == 1

    sent = only_sent(ses)
    assert sent["kind"] == "Message"
    assert sent["destinations"] == {
        "ToAddresses": ["to@example.net"],
        "CcAddresses": ["cc@example.net"],
        "BccAddresses": ["bcc@example.net"],
    }
    assert wire.only()["ReplyToAddresses.member.1"] == "replies@example.com"
    log = EmailLog.objects.get()
    assert log.to == ["to@example.net"]
    assert log.cc == ["cc@example.net"]
    assert log.bcc == ["bcc@example.net"]


def test_bcc_is_a_raw_destination_but_not_a_header(ses, wire):
    email_message = message(
        "SendRawEmail", to=["to@example.net"], cc=["cc@example.net", "TO@example.net"],
        bcc=["bcc@example.net"], reply_to=["replies@example.com"],
    )

    assert email_message.send() == 1

    sent = only_sent(ses)
    assert sent["kind"] == "RawMessage"
    # Destinations.member.N (each envelope recipient once), then what moto
    # read from the To/Cc headers.
    assert wire.only()["Destinations.member.3"] == "bcc@example.net"
    assert "Destinations.member.4" not in wire.only()
    assert sent["destinations"][:3] == ["to@example.net", "cc@example.net", "bcc@example.net"]
    parsed = parse_raw(sent["raw_data"])
    assert "Bcc" not in parsed
    assert "bcc@example.net" not in sent["raw_data"]
    assert parsed["To"] == "to@example.net"
    assert parsed["Cc"] == "cc@example.net, TO@example.net"
    assert parsed["Reply-To"] == "replies@example.com"


@pytest.mark.parametrize("kind", ["SendEmail", "SendRawEmail"])
def test_idn_domains_go_as_punycode(ses, kind):
    ses.verify_domain_identity(IDN_DOMAIN_ASCII)
    email_message = message(kind, from_email=f"info@{IDN_DOMAIN}", to=[f"leser@{IDN_DOMAIN}"])

    assert email_message.send() == 1

    sent = only_sent(ses)
    assert sent["kind"] == RAW_KINDS[kind]
    assert sent["source"] == f"info@{IDN_DOMAIN_ASCII}"
    if kind == "SendEmail":
        assert sent["destinations"] == {"ToAddresses": [f"leser@{IDN_DOMAIN_ASCII}"]}
    else:
        assert f"leser@{IDN_DOMAIN_ASCII}" in sent["destinations"]
        assert_7bit_crlf(sent["raw_data"])
        parsed = parse_raw(sent["raw_data"])
        assert parsed["From"] == f"info@{IDN_DOMAIN_ASCII}"
        assert parsed["To"] == f"leser@{IDN_DOMAIN_ASCII}"


@pytest.mark.parametrize("kind", ["SendEmail", "SendRawEmail"])
def test_non_ascii_display_names(ses, kind):
    email_message = message(
        kind, from_email=f"Jörg Müller <{SENDER}>", to=["Zoë Ångström <zoe@example.net>"]
    )

    assert email_message.send() == 1

    sent = only_sent(ses)
    assert sent["source"].isascii()
    source = decoded_address(sent["source"])
    assert (source.display_name, source.addr_spec) == ("Jörg Müller", SENDER)
    if kind == "SendEmail":
        [to] = sent["destinations"]["ToAddresses"]
    else:
        assert_7bit_crlf(sent["raw_data"])
        parsed = parse_raw(sent["raw_data"])
        assert parsed["From"].addresses[0].display_name == "Jörg Müller"
        to = str(parsed["To"])
    to = decoded_address(to)
    assert (to.display_name, to.addr_spec) == ("Zoë Ångström", "zoe@example.net")


@pytest.mark.parametrize("kind", ["SendEmail", "SendRawEmail"])
def test_configuration_set_and_tags_from_headers(ses, wire, settings, kind):
    settings.SES_QUERY = {**settings.SES_QUERY, "TAGS": {"app": "shop"}}
    ses.signed_post({"Action": "CreateConfigurationSet", "ConfigurationSet.Name": "marketing"})
    email_message = message(
        kind,
        headers={
            "X-SES-CONFIGURATION-SET": "marketing",
            "X-SES-MESSAGE-TAGS": "campaign=spring, variant=b",
        },
    )

    assert email_message.send() == 1

    sent = only_sent(ses)
    # The SES headers alone do not force SendRawEmail.
    assert sent["kind"] == RAW_KINDS[kind]
    params = wire.only()
    assert params["ConfigurationSetName"] == "marketing"
    tags = {
        params[f"Tags.member.{n}.Name"]: params[f"Tags.member.{n}.Value"]
        for n in range(1, 4)
    }
    assert tags == {"app": "shop", "campaign": "spring", "variant": "b"}
    if kind == "SendRawEmail":
        assert "x-ses-" not in sent["raw_data"].lower()
    log = EmailLog.objects.get()
    assert log.configuration_set == "marketing"
    assert log.tags == {"app": "shop", "campaign": "spring", "variant": "b"}


def test_many_messages_through_one_connection(ses):
    messages = [message(to=[f"to{n}@example.net"], subject=f"Message {n}") for n in range(6)]
    messages.append(message("SendRawEmail", to=["raw@example.net"]))

    with mailer() as connection:
        assert connection.send_messages(messages) == 7

    sent = {m["id"]: m for m in ses.sent_messages()}
    assert len(sent) == 7
    assert {m.ses_message_id for m in messages} == set(sent)
    assert sent[messages[3].ses_message_id]["subject"] == "Message 3"
    assert sent[messages[-1].ses_message_id]["kind"] == "RawMessage"
    assert set(EmailLog.objects.values_list("message_id", flat=True)) == set(sent)


def test_send_mass_mail(ses):
    datatuple = [
        ("First", "One\n", SENDER, ["a@example.net"]),
        ("Second", "Two\n", SENDER, ["b@example.net", "c@example.net"]),
    ]

    assert send_mass_mail(datatuple) == 2

    sent = sorted(ses.sent_messages(), key=lambda m: m["subject"])
    assert [m["subject"] for m in sent] == ["First", "Second"]
    assert sent[1]["destinations"] == {"ToAddresses": ["b@example.net", "c@example.net"]}
    assert EmailLog.objects.filter(status=EmailLog.Status.SENT).count() == 2


# -- refusals ----------------------------------------------------------------


def assert_failed_and_logged(error: SESError, email_message, code: str) -> EmailLog:
    assert email_message.ses_message_id is None
    log = EmailLog.objects.get()
    assert log.status == EmailLog.Status.FAILED
    assert log.error_code == code
    assert log.message_id == ""
    assert email_message.ses_log == log
    return log


@pytest.mark.parametrize("kind", ["SendEmail", "SendRawEmail"])
def test_wrong_secret_is_signature_does_not_match(ses, settings, kind):
    settings.SES_QUERY = {**settings.SES_QUERY, "SECRET_ACCESS_KEY": "not-" + ses.secret_access_key}
    email_message = message(kind)

    with pytest.raises(SESError) as caught:
        email_message.send()

    error = caught.value
    assert isinstance(error, SESAuthenticationError)
    assert error.code == "SignatureDoesNotMatch"
    assert error.http_status == 403
    assert ses.sent_messages() == []
    log = assert_failed_and_logged(error, email_message, "SignatureDoesNotMatch")
    assert log.http_status == 403


def test_unknown_key_is_invalid_client_token_id(ses, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "ACCESS_KEY_ID": "AKIAUNKNOWNUNKNOWN00"}
    email_message = message()

    with pytest.raises(SESAuthenticationError) as caught:
        email_message.send()

    assert caught.value.code == "InvalidClientTokenId"
    assert caught.value.http_status == 403
    assert ses.sent_messages() == []
    assert_failed_and_logged(caught.value, email_message, "InvalidClientTokenId")


@pytest.mark.parametrize("kind", ["SendEmail", "SendRawEmail"])
def test_unverified_sender_is_message_rejected(ses, kind):
    email_message = message(kind, from_email=UNVERIFIED_SENDER)

    with pytest.raises(SESMessageRejectedError) as caught:
        email_message.send()

    error = caught.value
    assert error.code == "MessageRejected"
    assert error.http_status == 400
    assert error.request_id
    assert UNVERIFIED_SENDER in error.message
    assert ses.sent_messages() == []
    log = assert_failed_and_logged(error, email_message, "MessageRejected")
    assert log.request_id == error.request_id


@pytest.mark.parametrize(
    "split",
    [(51, 0, 0), (20, 20, 11), (0, 0, 51)],
    ids=["to", "to-cc-bcc", "bcc"],
)
def test_more_than_50_recipients_are_refused_before_any_request(ses, wire, split):
    to, cc, bcc = ([f"{kind}{n}@example.net" for n in range(count)] for kind, count in zip(
        ("to", "cc", "bcc"), split
    ))
    email_message = message(to=to, cc=cc, bcc=bcc)

    with pytest.raises(SESInvalidMessageError) as caught:
        email_message.send()

    assert caught.value.code == "TooManyRecipients"
    assert caught.value.http_status is None
    assert wire.requests == []
    assert ses.sent_messages() == []
    assert_failed_and_logged(caught.value, email_message, "TooManyRecipients")


def test_non_ascii_local_part_is_refused_before_any_request(ses, wire):
    email_message = message(to=["ok@example.net", "jörg@example.net"])

    with pytest.raises(SESInvalidMessageError) as caught:
        email_message.send()

    assert caught.value.code == "NonAsciiLocalPart"
    assert wire.requests == []
    assert ses.sent_messages() == []
    assert_failed_and_logged(caught.value, email_message, "NonAsciiLocalPart")


def test_fifty_recipients_are_sent(ses):
    to = [f"to{n}@example.net" for n in range(30)]
    bcc = [f"bcc{n}@example.net" for n in range(20)]

    assert message(to=to, bcc=bcc).send() == 1

    assert only_sent(ses)["destinations"] == {"ToAddresses": to, "BccAddresses": bcc}


# -- credentials -------------------------------------------------------------


def test_temporary_credentials_with_session_token(ses, settings, wire):
    key, secret, token = ses.temporary_credentials()
    settings.SES_QUERY = ses_query(
        ses, ACCESS_KEY_ID=key, SECRET_ACCESS_KEY=secret, SESSION_TOKEN=token
    )
    email_message = message()

    assert email_message.send() == 1

    assert email_message.ses_message_id == only_sent(ses)["id"]
    [request] = wire.requests
    assert request.headers["X-Amz-Security-Token"] == token
    assert "x-amz-security-token" in request.headers["Authorization"].split("SignedHeaders=")[1]


def test_temporary_credentials_without_session_token_are_refused(ses, settings):
    key, secret, _token = ses.temporary_credentials()
    settings.SES_QUERY = ses_query(ses, ACCESS_KEY_ID=key, SECRET_ACCESS_KEY=secret)

    with pytest.raises(SESAuthenticationError) as caught:
        message().send()

    assert caught.value.code == "InvalidClientTokenId"
    assert ses.sent_messages() == []


def test_credentials_from_the_environment(ses, settings, monkeypatch):
    key, secret, token = ses.temporary_credentials()
    settings.SES_QUERY = ses_query(ses, ACCESS_KEY_ID=None, SECRET_ACCESS_KEY=None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)

    assert message().send() == 1
    assert len(ses.sent_messages()) == 1


# -- fail_silently -----------------------------------------------------------


@contextmanager
def deprecated_fail_silently_argument():
    """Django 6.1 deprecates ``fail_silently=`` on the send functions."""
    with warnings.catch_warnings():
        if DJANGO_61:
            from django.core.mail.deprecation import FAIL_SILENTLY_ARG_WARNING
            from django.utils.deprecation import RemovedInDjango2028Warning

            warnings.filterwarnings(
                "ignore",
                message=re.escape(FAIL_SILENTLY_ARG_WARNING),
                category=RemovedInDjango2028Warning,
            )
        yield


def test_send_mail_fail_silently_argument(ses):
    with deprecated_fail_silently_argument():
        sent_count = send_mail(
            "Hi", "Body\n", UNVERIFIED_SENDER, ["to@example.net"], fail_silently=True
        )

    assert sent_count == 0
    assert ses.sent_messages() == []
    log = EmailLog.objects.get()
    assert (log.status, log.error_code) == (EmailLog.Status.FAILED, "MessageRejected")


@needs_mailers
def test_fail_silently_mailer_option(ses, settings):
    settings.MAILERS = {
        **settings.MAILERS,
        "quiet": {"BACKEND": BACKEND, "OPTIONS": {"fail_silently": True}},
    }
    messages = [message(from_email=UNVERIFIED_SENDER), message(subject="Second")]

    assert mail.mailers["quiet"].send_messages(messages) == 1

    assert [m["subject"] for m in ses.sent_messages()] == ["Second"]
    assert messages[0].ses_message_id is None
    assert messages[1].ses_message_id == ses.sent_messages()[0]["id"]
    assert sorted(EmailLog.objects.values_list("status", flat=True)) == ["failed", "sent"]


# -- Django 6.1: MAILERS and using= -----------------------------------------


@needs_mailers
def test_mailers_options_win_over_ses_query(ses, settings):
    # SES_QUERY's secret is wrong; the "ses" mailer's OPTIONS carry the right one.
    settings.SES_QUERY = {**settings.SES_QUERY, "SECRET_ACCESS_KEY": "wrong"}
    settings.MAILERS = {
        **settings.MAILERS,
        "ses": {
            "BACKEND": BACKEND,
            "OPTIONS": {
                "access_key_id": ses.access_key_id,
                "secret_access_key": ses.secret_access_key,
                "endpoint_url": ses.endpoint_url,
                "region": ses.region,
            },
        },
    }
    email_message = EmailMultiAlternatives("Via using", "Text\n", SENDER, ["to@example.net"])
    email_message.attach_alternative("<p>HTML</p>", "text/html")

    assert send_mail("send_mail using", "Body\n", SENDER, ["to@example.net"], using="ses") == 1
    assert email_message.send(using="ses") == 1
    with pytest.raises(SESAuthenticationError):
        message().send()

    sent = ses.sent_messages()
    assert [m["subject"] for m in sent] == ["send_mail using", "Via using"]
    assert email_message.ses_message_id == sent[1]["id"]
    assert mail.mailers["ses"].alias == "ses"


@needs_mailers
def test_deprecated_email_backend_setting(ses, settings):
    from django.conf import EMAIL_SETTING_DEPRECATED_MSG
    from django.test import override_settings
    from django.utils.deprecation import RemovedInDjango2028Warning

    del settings.MAILERS
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=re.escape(EMAIL_SETTING_DEPRECATED_MSG.format(name="EMAIL_BACKEND")),
            category=RemovedInDjango2028Warning,
        )
        with override_settings(EMAIL_BACKEND=BACKEND):
            email_message = message()
            assert email_message.send() == 1
            assert send_mail("send_mail", "Body\n", SENDER, ["to@example.net"]) == 1

    sent = ses.sent_messages()
    assert [m["subject"] for m in sent] == ["Hello", "send_mail"]
    assert email_message.ses_message_id == sent[0]["id"]
