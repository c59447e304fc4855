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


import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives, send_mail, send_mass_mail

from django_ses_query.models import EmailLog

from tests.moto_sending import ses, wire  # noqa: F401  Fixtures.
from tests.moto_sending import (
    IDN_DOMAIN, IDN_DOMAIN_ASCII, RAW_KINDS, SENDER, assert_7bit_crlf, decoded_address, mailer, message, only_sent,
    parse_raw,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


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
