"""Message → SendEmail / SendRawEmail parameters, as the endpoint receives them,
and the checks that refuse a message before any HTTP."""

from __future__ import annotations

import base64
import email
import os
from email import policy

import django
import pytest
from django.core.mail import EmailAttachment, EmailMessage, EmailMultiAlternatives

from django_ses_query.backend import EmailBackend
from django_ses_query.exceptions import SESInvalidMessageError
from django_ses_query.models import EmailLog
from tests.fakeses import Recorded
from tests.mailparts import PNG, inline_image

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])

TEXT = "Grüße, 東京 🙂\nsecond line ~*+&=\n"
HTML = "<p>Grüße, <b>東京</b> 🙂 ~*+&amp;=</p>"
SES_TEN_MB = 10 * 1024 * 1024


def members(params: dict, prefix: str) -> list[str]:
    """``prefix.member.1``, ``prefix.member.2``... in order."""
    found, index = [], 1
    while f"{prefix}.member.{index}" in params:
        found.append(params[f"{prefix}.member.{index}"])
        index += 1
    return found


def tags(params: dict, prefix: str = "Tags") -> dict[str, str]:
    found, index = {}, 1
    while f"{prefix}.member.{index}.Name" in params:
        found[params[f"{prefix}.member.{index}.Name"]] = params[f"{prefix}.member.{index}.Value"]
        index += 1
    return found


def send_one(backend, fake_ses, message) -> Recorded:
    assert backend.send_messages([message]) == 1
    [sent] = fake_ses.sent
    assert message.ses_message_id == sent.message_id
    return sent


def normalise(text: str) -> str:
    return text.replace("\r\n", "\n").rstrip("\n")


def decode_raw(params: dict):
    """The MIME of a SendRawEmail, checked to be what SES accepts."""
    data = base64.b64decode(params["RawMessage.Data"], validate=True)
    assert all(byte < 128 for byte in data), "8-bit byte in the raw message"
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF"
    assert b"\r" not in data.replace(b"\r\n", b""), "bare CR"
    return data, email.message_from_bytes(data, policy=policy.default)


def body_parts(mime) -> dict[str, str]:
    return {
        part.get_content_type(): normalise(part.get_content())
        for part in mime.walk()
        if not part.is_multipart() and not part.get_filename() and part.get_content_maintype() == "text"
    }


def attachment_parts(mime) -> dict[str, bytes]:
    return {part.get_filename(): part.get_payload(decode=True) for part in mime.walk() if part.get_filename()}


# -- SendEmail ------------------------------------------------------------------


def test_plain_text_is_send_email(backend, fake_ses):
    message = EmailMessage(
        "Sübject ~*+&=", TEXT, "from@example.com",
        ["to1@example.com", "to2@example.com"], cc=["cc@example.com"], bcc=["bcc@example.com"],
        reply_to=["reply@example.com"],
    )
    sent = send_one(backend, fake_ses, message)
    assert sent.params == {
        "Action": "SendEmail",
        "Version": "2010-12-01",
        "Source": "from@example.com",
        "Destination.ToAddresses.member.1": "to1@example.com",
        "Destination.ToAddresses.member.2": "to2@example.com",
        "Destination.CcAddresses.member.1": "cc@example.com",
        "Destination.BccAddresses.member.1": "bcc@example.com",
        "Message.Subject.Data": "Sübject ~*+&=",
        "Message.Subject.Charset": "UTF-8",
        "Message.Body.Text.Data": TEXT,
        "Message.Body.Text.Charset": "UTF-8",
        "ReplyToAddresses.member.1": "reply@example.com",
    }


def test_text_and_one_html_alternative_is_send_email(backend, fake_ses):
    message = EmailMultiAlternatives("Hi", TEXT, "from@example.com", ["to@example.com"])
    message.attach_alternative(HTML, "text/html")
    params = send_one(backend, fake_ses, message).params
    assert params["Action"] == "SendEmail"
    assert params["Message.Body.Text.Data"] == TEXT
    assert params["Message.Body.Html.Data"] == HTML
    assert params["Message.Body.Text.Charset"] == params["Message.Body.Html.Charset"] == "UTF-8"
    assert "RawMessage.Data" not in params


def test_html_content_subtype_is_send_email_with_html_only(backend, fake_ses):
    message = EmailMessage("Hi", HTML, "from@example.com", ["to@example.com"])
    message.content_subtype = "html"
    params = send_one(backend, fake_ses, message).params
    assert params["Action"] == "SendEmail"
    assert params["Message.Body.Html.Data"] == HTML
    assert params["Message.Body.Html.Charset"] == "UTF-8"
    assert "Message.Body.Text.Data" not in params


def test_explicit_utf8_encoding_still_uses_send_email(backend, fake_ses):
    message = EmailMessage("Hi", TEXT, "from@example.com", ["to@example.com"])
    message.encoding = "UTF-8"
    assert send_one(backend, fake_ses, message).params["Action"] == "SendEmail"


# -- SendRawEmail ---------------------------------------------------------------


def with_attachment():
    message = EmailMultiAlternatives(
        "Sübject", TEXT, "from@example.com", ["to@example.com"],
        cc=["cc@example.com"], bcc=["hidden-bcc@example.com"],
    )
    message.attach_alternative(HTML, "text/html")
    message.attach("résumé.bin", bytes(range(256)), "application/octet-stream")
    return message


def with_inline_image():
    message = EmailMultiAlternatives("Sübject", TEXT, "from@example.com", ["to@example.com"],
                                     bcc=["hidden-bcc@example.com"])
    message.attach_alternative(HTML, "text/html")
    if django.VERSION < (6, 0):
        message.mixed_subtype = "related"
    message.attach(inline_image())
    return message


def with_email_attachment():
    message = EmailMessage("Sübject", TEXT, "from@example.com", ["to@example.com"],
                           bcc=["hidden-bcc@example.com"])
    message.attachments.append(EmailAttachment("logo.png", PNG, "image/png"))
    return message


def with_custom_header():
    return EmailMessage("Sübject", TEXT, "from@example.com", ["to@example.com"],
                        bcc=["hidden-bcc@example.com"], headers={"List-Unsubscribe": "<mailto:u@example.com>"})


def with_calendar_alternative():
    message = EmailMultiAlternatives("Sübject", TEXT, "from@example.com", ["to@example.com"],
                                     bcc=["hidden-bcc@example.com"])
    message.attach_alternative("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/calendar")
    return message


def with_two_html_alternatives():
    message = EmailMultiAlternatives("Sübject", TEXT, "from@example.com", ["to@example.com"],
                                     bcc=["hidden-bcc@example.com"])
    message.attach_alternative(HTML, "text/html")
    message.attach_alternative("<p>second</p>", "text/html")
    return message


def with_latin1_encoding():
    message = EmailMessage("Sübject", "Crème brûlée\n", "from@example.com", ["to@example.com"],
                           bcc=["hidden-bcc@example.com"])
    message.encoding = "iso-8859-1"
    return message


def html_with_alternative():
    message = EmailMultiAlternatives("Sübject", HTML, "from@example.com", ["to@example.com"],
                                     bcc=["hidden-bcc@example.com"])
    message.content_subtype = "html"
    message.attach_alternative(TEXT, "text/plain")
    return message


RAW_CASES = {
    "attachment": (with_attachment, {"text/plain": TEXT, "text/html": HTML}, {"résumé.bin": bytes(range(256))}),
    "inline image": (with_inline_image, {"text/plain": TEXT, "text/html": HTML}, {"logo.png": PNG}),
    "EmailAttachment": (with_email_attachment, {"text/plain": TEXT}, {"logo.png": PNG}),
    "custom header": (with_custom_header, {"text/plain": TEXT}, {}),
    "calendar alternative": (
        with_calendar_alternative,
        {"text/plain": TEXT, "text/calendar": "BEGIN:VCALENDAR\nEND:VCALENDAR"},
        {},
    ),
    "two html alternatives": (with_two_html_alternatives, {"text/plain": TEXT}, {}),
    "latin-1": (with_latin1_encoding, {"text/plain": "Crème brûlée"}, {}),
    "html with text alternative": (html_with_alternative, {"text/html": HTML, "text/plain": TEXT}, {}),
}


@pytest.mark.parametrize("build,texts,files", RAW_CASES.values(), ids=RAW_CASES.keys())
def test_raw_cases(backend, fake_ses, build, texts, files):
    message = build()
    sent = send_one(backend, fake_ses, message)
    params = sent.params
    assert params["Action"] == "SendRawEmail"
    assert params["Source"] == "from@example.com"
    assert "Destination.ToAddresses.member.1" not in params
    data, mime = decode_raw(params)
    assert mime["Subject"] == "Sübject"
    found = body_parts(mime)
    for content_type, text in texts.items():
        assert found[content_type] == normalise(text)
    assert attachment_parts(mime) == files
    # Bcc is an envelope recipient, never a header.
    assert members(params, "Destinations")[-1] == "hidden-bcc@example.com"
    assert b"hidden-bcc" not in data
    assert mime["Bcc"] is None


def test_custom_header_is_kept(backend, fake_ses):
    _, mime = decode_raw(send_one(backend, fake_ses, with_custom_header()).params)
    assert mime["List-Unsubscribe"] == "<mailto:u@example.com>"


def test_raw_destinations_are_every_recipient(backend, fake_ses):
    message = EmailMessage(
        "s", "b", "from@example.com",
        ["To One <to1@example.com>", "to2@example.com"],
        cc=["Cc <cc@example.com>"], bcc=["bcc1@example.com", "Bcc Two <bcc2@example.com>"],
        headers={"X-Custom": "1"},
    )
    params = send_one(backend, fake_ses, message).params
    assert members(params, "Destinations") == [
        "to1@example.com", "to2@example.com", "cc@example.com", "bcc1@example.com", "bcc2@example.com"
    ]
    data, mime = decode_raw(params)
    assert mime["To"].addresses[0].addr_spec == "to1@example.com"
    assert mime["Cc"].addresses[0].addr_spec == "cc@example.com"
    assert b"bcc1@" not in data and b"bcc2@" not in data


def test_raw_destinations_are_each_listed_once(backend, fake_ses):
    message = EmailMessage("s", "b", "from@example.com", ["a@example.com", "A@example.com"],
                           bcc=["a@example.com"], headers={"X-Custom": "1"})
    assert members(send_one(backend, fake_ses, message).params, "Destinations") == ["a@example.com"]


def test_raw_message_from_header_uses_the_sender(backend, fake_ses):
    message = EmailMessage("s", "b", "Jösé <from@example.com>", ["to@example.com"], headers={"X-C": "1"})
    _, mime = decode_raw(send_one(backend, fake_ses, message).params)
    assert mime["From"].addresses[0].display_name == "Jösé"
    assert mime["From"].addresses[0].addr_spec == "from@example.com"


# -- Configuration set and tags ---------------------------------------------------


@pytest.fixture
def defaults(settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "CONFIGURATION_SET": "default-set",
                          "TAGS": {"app": "web", "env": "test"}}


def test_settings_defaults_on_send_email(defaults, fake_ses):
    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"])
    params = send_one(EmailBackend(), fake_ses, message).params
    assert params["Action"] == "SendEmail"
    assert params["ConfigurationSetName"] == "default-set"
    assert tags(params) == {"app": "web", "env": "test"}


def test_headers_win_on_send_email_and_do_not_force_raw(defaults, fake_ses):
    headers = {"X-SES-CONFIGURATION-SET": "marketing", "X-SES-MESSAGE-TAGS": "campaign=spring-2025, env=prod"}
    message = EmailMultiAlternatives("s", "b", "from@example.com", ["to@example.com"], headers=headers)
    message.attach_alternative("<p>b</p>", "text/html")
    params = send_one(EmailBackend(), fake_ses, message).params
    assert params["Action"] == "SendEmail"
    assert params["ConfigurationSetName"] == "marketing"
    assert tags(params) == {"app": "web", "env": "prod", "campaign": "spring-2025"}
    assert message.extra_headers == headers


def test_header_names_are_case_insensitive(fake_ses, backend):
    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"],
                           headers={"x-ses-configuration-set": "cs", "X-Ses-Message-Tags": "a=b"})
    params = send_one(backend, fake_ses, message).params
    assert params["Action"] == "SendEmail"
    assert params["ConfigurationSetName"] == "cs"
    assert tags(params) == {"a": "b"}


def test_headers_on_raw_send_become_params_not_mime(defaults, fake_ses):
    message = with_attachment()
    message.extra_headers = {"X-SES-CONFIGURATION-SET": "marketing", "X-SES-MESSAGE-TAGS": "campaign=c1"}
    params = send_one(EmailBackend(), fake_ses, message).params
    assert params["Action"] == "SendRawEmail"
    assert params["ConfigurationSetName"] == "marketing"
    assert tags(params) == {"app": "web", "env": "test", "campaign": "c1"}
    data, mime = decode_raw(params)
    assert b"X-SES-" not in data.upper()
    assert b"marketing" not in data


def test_no_configuration_set_or_tags_by_default(backend, fake_ses):
    params = send_one(backend, fake_ses, with_attachment()).params
    assert "ConfigurationSetName" not in params
    assert not any(key.startswith("Tags.") for key in params)


@pytest.mark.parametrize(
    "header",
    ["no-equals-sign", "bad name=x", "a=b c", "a=é", "ä=b", "a=b/c", f"{'n' * 257}=v", f"n={'v' * 257}", "=v"],
)
def test_invalid_tags_are_refused_before_sending(backend, fake_ses, header):
    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"],
                           headers={"X-SES-MESSAGE-TAGS": header})
    with pytest.raises(SESInvalidMessageError) as caught:
        backend.send_messages([message])
    assert caught.value.code == "InvalidTag"
    assert fake_ses.requests == []


def test_longest_accepted_tag(backend, fake_ses):
    header = f"{'n' * 256}={'v' * 256}"
    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"],
                           headers={"X-SES-MESSAGE-TAGS": header})
    assert tags(send_one(backend, fake_ses, message).params) == {"n" * 256: "v" * 256}


def test_invalid_configuration_set_header_is_refused(backend, fake_ses):
    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"],
                           headers={"X-SES-CONFIGURATION-SET": "has space"})
    with pytest.raises(SESInvalidMessageError):
        backend.send_messages([message])
    assert fake_ses.requests == []


# -- Checks before any HTTP -------------------------------------------------------


def big_message(base64_size: int) -> EmailMessage:
    """A raw message whose RawMessage.Data is about ``base64_size`` bytes."""
    message = EmailMessage("big", "b", "from@example.com", ["to@example.com"])
    # base64 in the MIME (76 + CRLF per 57 bytes), then base64 again.
    size = int(base64_size * 3 / 4 * 57 / 78)
    message.attach("big.bin", os.urandom(size), "application/octet-stream")
    return message


def too_many_recipients():
    return EmailMessage("bad", "b", "from@example.com", [f"to{i}@example.com" for i in range(30)],
                        cc=[f"cc{i}@example.com" for i in range(11)], bcc=[f"b{i}@example.com" for i in range(10)])


def no_sender():
    message = EmailMessage("bad", "b", "from@example.com", ["to@example.com"])
    message.from_email = ""
    return message


INVALID = {
    "TooManyRecipients": too_many_recipients,
    "MessageTooLarge": lambda: big_message(SES_TEN_MB + 50_000),
    "MissingSender": no_sender,
    "NonAsciiLocalPart": lambda: EmailMessage("bad", "b", "from@example.com", ["jösé@example.com"]),
    "InvalidTag": lambda: EmailMessage("bad", "b", "from@example.com", ["to@example.com"],
                                       headers={"X-SES-MESSAGE-TAGS": "a=b c"}),
}


@pytest.mark.parametrize("code", INVALID)
def test_invalid_message_is_logged_and_nothing_sent(backend, fake_ses, code):
    message = INVALID[code]()
    with pytest.raises(SESInvalidMessageError) as caught:
        backend.send_messages([message])
    assert caught.value.code == code
    assert isinstance(caught.value, ValueError)
    assert fake_ses.requests == []
    [row] = EmailLog.objects.all()
    assert row.status == EmailLog.Status.FAILED
    assert row.error_code == code
    assert row.message_id == ""


def test_fifty_recipients_are_accepted(backend, fake_ses):
    message = EmailMessage("ok", "b", "from@example.com", [f"to{i}@example.com" for i in range(30)],
                           cc=[f"cc{i}@example.com" for i in range(10)], bcc=[f"b{i}@example.com" for i in range(10)])
    params = send_one(backend, fake_ses, message).params
    assert len(members(params, "Destination.ToAddresses")) == 30


def test_a_raw_message_just_under_ten_megabytes_is_sent(backend, fake_ses):
    message = big_message(SES_TEN_MB - 50_000)
    params = send_one(backend, fake_ses, message).params
    assert SES_TEN_MB - 100_000 < len(params["RawMessage.Data"]) <= SES_TEN_MB


@pytest.mark.parametrize("concurrency", [1, 4])
def test_fail_silently_sends_the_rest_of_the_batch(fake_ses, settings, concurrency):
    settings.SES_QUERY = {**settings.SES_QUERY, "MAX_CONCURRENCY": concurrency}
    good = [EmailMessage(f"good {i}", "b", "from@example.com", [f"to{i}@example.com"]) for i in range(3)]
    batch = [INVALID["TooManyRecipients"](), good[0], INVALID["MissingSender"](), good[1],
             INVALID["NonAsciiLocalPart"](), INVALID["InvalidTag"](), good[2]]
    assert EmailBackend(fail_silently=True).send_messages(batch) == 3
    assert sorted(r.params["Message.Subject.Data"] for r in fake_ses.sent) == ["good 0", "good 1", "good 2"]
    assert len(fake_ses.requests) == 3
    failed = EmailLog.objects.filter(status=EmailLog.Status.FAILED)
    assert sorted(failed.values_list("error_code", flat=True)) == sorted(
        ["TooManyRecipients", "MissingSender", "NonAsciiLocalPart", "InvalidTag"]
    )
    assert EmailLog.objects.filter(status=EmailLog.Status.SENT).count() == 3
    assert all(m.ses_message_id for m in good)


def test_each_recipient_counts_against_the_send_rate(fake_ses, monkeypatch):
    """To, Cc and Bcc, display names or not, as the rate limiter sees them."""
    backend = EmailBackend(max_send_rate=1000)
    waits = []
    monkeypatch.setattr(backend.client, "wait_for_rate", waits.append)
    message = EmailMessage("s", "b", "from@example.com", ["Ann <a@example.com>", "b@example.com"],
                           cc=['"Doe, Jo" <c@example.com>'], bcc=["Zoë <d@example.com>"])

    assert backend.send_messages([message]) == 1

    assert waits == [4]
    [(_, request)] = backend.pipeline.prepare(message)
    assert request.recipient_count == len(request.recipients) == 4


# -- Header names and values that would add header lines ----------------------------


@pytest.mark.parametrize(
    "name",
    [
        "X-Foo: a\r\nBcc: evil@example.com\r\nX-Bar",
        "X-Foo\nBcc",
        "X-Foo:",
        "X Foo",
        "X-Foo\t",
        "X-Fö",
        "",
        "X-SES-MESSAGE-TAGS\r\nBcc: evil@example.com\r\nX",
    ],
)
@pytest.mark.parametrize("raw", [False, True], ids=["SendEmail-shaped", "SendRawEmail"])
def test_header_names_that_are_not_a_field_name_are_refused(backend, fake_ses, name, raw):
    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"], headers={name: "v"})
    if raw:
        message.attach("a.txt", b"data", "text/plain")
    with pytest.raises(SESInvalidMessageError) as caught:
        backend.send_messages([message])
    assert caught.value.code == "InvalidHeader"
    assert fake_ses.requests == []
    row = EmailLog.objects.get()
    assert (row.status, row.error_code) == ("failed", "InvalidHeader")


@pytest.mark.parametrize("value", ["a\x00b", "a\x1bb", "a\rb"])
@pytest.mark.parametrize("name", ["X-Custom", "X-SES-CONFIGURATION-SET", "X-SES-MESSAGE-TAGS"])
def test_control_characters_in_header_values_are_refused(backend, fake_ses, name, value):
    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"], headers={name: value})
    with pytest.raises(SESInvalidMessageError) as caught:
        backend.send_messages([message])
    assert caught.value.code == "InvalidHeader"
    assert fake_ses.requests == []


def test_attachment_filename_with_a_newline_is_refused(backend, fake_ses):
    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"])
    message.attach("a.txt\r\nBcc: evil@example.com", b"data", "text/plain")
    with pytest.raises(SESInvalidMessageError) as caught:
        backend.send_messages([message])
    assert caught.value.code == "InvalidHeader"
    assert fake_ses.requests == []


def test_a_tab_in_a_header_value_is_fine(backend, fake_ses):
    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"], headers={"X-Custom": "a\tb"})
    assert backend.send_messages([message]) == 1
