"""Secrets never reach the send log, exceptions, log output, command output,
Django's error pages or error e-mails: not when SES quotes them back, not
when a credential has a trailing newline, not in a traceback's variables."""

from __future__ import annotations

import logging
import sys
from io import StringIO

import pytest
from django.core.checks import run_checks
from django.core.mail import EmailMessage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils.log import AdminEmailHandler
from django.views.debug import ExceptionReporter

from django_ses_query.backend import EmailBackend
from django_ses_query.exceptions import SESConfigurationError, SESError, SESTransportError
from django_ses_query.models import EmailLog
from django_ses_query.redaction import redact, redact_unknown_secrets
from tests.fakeses import refused_endpoint, xml

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])

ACCESS_KEY_ID = "AKIDVISIBLEEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRETKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKENxyz+/0123456789abcdefSESSIONtoken=="
ENV_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def with_token(settings, fake_ses):
    settings.SES_QUERY = {
        **settings.SES_QUERY, "ACCESS_KEY_ID": ACCESS_KEY_ID, "SECRET_ACCESS_KEY": SECRET,
        "SESSION_TOKEN": TOKEN, "MAX_RETRIES": 0,
    }
    settings.DEFAULT_FROM_EMAIL = "from@example.com"


@pytest.fixture
def env_credentials(settings, fake_ses, monkeypatch):
    """Credentials from the environment only."""
    settings.SES_QUERY = {
        k: v for k, v in settings.SES_QUERY.items() if k not in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY")
    }
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    return monkeypatch


def message():
    return EmailMessage("Subject", "Body", "from@example.com", ["to@example.com"])


def assert_hidden(text: str) -> None:
    assert TOKEN not in text
    assert TOKEN[:20] not in text
    assert SECRET not in text


def all_columns(row: EmailLog) -> str:
    return " ".join(str(value) for value in row.__dict__.values())


def signature_does_not_match(signature: str = "0" * 64) -> bytes:
    """What SES answers when the signature is wrong: its message quotes the
    canonical request it computed (every signed header, the token among them)
    and the string to sign. The shape of SES's real message, for our request."""
    canonical = (
        "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:127.0.0.1\n"
        f"x-amz-date:20261129T000000Z\nx-amz-security-token:{TOKEN}\n\n"
        "content-type;host;x-amz-date;x-amz-security-token\n" + "e" * 64
    )
    text = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details.\n\nThe Canonical String for this request should have been\n"
        f"'{canonical}'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n"
        "20261129T000000Z\n20261129/us-east-1/ses/aws4_request\n" + "a" * 64 + "'\n"
        f"Authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20261129/us-east-1/ses/"
        f"aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}\n"
        f"(the secret, echoed by a misbehaving proxy: {SECRET})"
    )
    body = (
        '<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">\n  <Error>\n'
        "    <Type>Sender</Type>\n    <Code>SignatureDoesNotMatch</Code>\n"
        f"    <Message>{text}</Message>\n  </Error>\n"
        "  <RequestId>158e381e-f178-4a80-903b-e21d6e67669c</RequestId>\n</ErrorResponse>\n"
    )
    return body.encode("utf-8")


# -- 1. SES quoting the canonical request back ---------------------------------------


def test_redact_takes_out_token_lines_signatures_and_the_values_given():
    text = (
        f"x-amz-security-token:{TOKEN}\nX-Amz-Security-Token={TOKEN}&a=b "
        f"Signature={'f' * 64}, X-Amz-Signature={'0' * 64} and {SECRET}"
    )
    redacted = redact(text, [SECRET])
    assert_hidden(redacted)
    assert "f" * 64 not in redacted and "0" * 64 not in redacted
    assert redacted.count("<redacted>") == 5
    assert "a=b" in redacted  # The rest is kept.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"AccessKeyId": "ASIAX", "SecretAccessKey": "s3cr\\"et", "Expiration": "2026"}',
         '{"AccessKeyId": "ASIAX", "SecretAccessKey": "<redacted>", "Expiration": "2026"}'),
        ("{'SessionToken': 'tok en'}", "{'SessionToken': '<redacted>'}"),
        ('"SessionToken": "cut short', '"SessionToken": "<redacted>'),
        ("aws_session_token = abc123\nnext line", "aws_session_token = <redacted>\nnext line"),
        ("AWS_SECRET_ACCESS_KEY=xyz; ok", "AWS_SECRET_ACCESS_KEY=<redacted>; ok"),
        ("password: hunter2, then", "password: <redacted>, then"),
        ("Session-Id:abc", "Session-Id:<redacted>"),
        ("blob " + "Ab0+/" * 8 + "== end", "blob <redacted> end"),
        ("hex " + "0123456789abcdef" * 3, "hex <redacted>"),
        # The helper's own words are kept.
        ("SSO session expired; run aws sso login", "SSO session expired; run aws sso login"),
        ("short base64 " + "A" * 39, "short base64 " + "A" * 39),
        ("AccessKeyId: ASIAEXAMPLE, Expiration: 2026-01-01T00:00:00Z",
         "AccessKeyId: ASIAEXAMPLE, Expiration: 2026-01-01T00:00:00Z"),
    ],
)
def test_redact_unknown_secrets(text, expected):
    assert redact_unknown_secrets(text) == expected


@pytest.mark.parametrize("junk", ["token" * 200_000, "session." * 125_000, "'" * 1_000_000 + "token:"])
def test_redact_unknown_secrets_takes_linear_time(junk):
    """A helper printing a megabyte of one long word on stderr: each word is
    tried once as a key (otherwise this would take hours)."""
    import time

    started = time.monotonic()
    redact_unknown_secrets(junk)
    assert time.monotonic() - started < 10


def test_signature_does_not_match_quoting_the_token_is_redacted_everywhere(with_token, fake_ses, caplog):
    caplog.set_level(logging.DEBUG, logger="django_ses_query")
    fake_ses.enqueue(xml(403, signature_does_not_match("9" * 64)))
    with pytest.raises(SESError) as caught:
        EmailBackend().send_messages([message()])

    # The token really was sent (so SES could quote it).
    assert fake_ses.requests[0].headers["X-Amz-Security-Token"] == TOKEN
    assert caught.value.code == "SignatureDoesNotMatch"
    assert "Canonical String" in caught.value.message  # SES's explanation stays.
    assert "x-amz-security-token:<redacted>" in caught.value.message
    [row] = EmailLog.objects.using("sendlog").all() or EmailLog.objects.all()
    assert row.error_code == "SignatureDoesNotMatch"
    for text in (str(caught.value), repr(caught.value), caught.value.args[0], caplog.text, all_columns(row)):
        assert_hidden(text)
        assert "9" * 64 not in text
    assert "SignatureDoesNotMatch" in caplog.text


def test_signature_does_not_match_in_sendtestemail_output(with_token, fake_ses):
    fake_ses.enqueue(xml(403, signature_does_not_match()))
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("ses_sendtestemail", "to@example.com", stdout=out, stderr=err)
    assert "SignatureDoesNotMatch" in str(caught.value)
    for text in (str(caught.value), out.getvalue(), err.getvalue()):
        assert_hidden(text)


# -- 2. A trailing newline in a credential from the environment ------------------------


@pytest.mark.parametrize("variable", ["AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])
def test_trailing_newline_in_an_environment_credential_is_a_configuration_error(
    env_credentials, fake_ses, variable, caplog
):
    value = {"AWS_SESSION_TOKEN": TOKEN, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}
    env_credentials.setenv(variable, value[variable] + "\n")
    caplog.set_level(logging.DEBUG, logger="django_ses_query")

    with pytest.raises(SESConfigurationError) as caught:
        EmailBackend().send_messages([message()])

    error = caught.value
    assert error.code == "InvalidCredentials"
    assert variable in str(error) and "environment" in str(error)
    assert not isinstance(error, SESTransportError)  # Not "may have been sent".
    assert fake_ses.requests == []  # Nothing left.
    [row] = EmailLog.objects.all()
    assert row.status == EmailLog.Status.FAILED
    assert row.error_code == "InvalidCredentials"
    for text in (str(error), repr(error), caplog.text, all_columns(row)):
        assert_hidden(text)
        assert "Signature=" not in text


def test_trailing_newline_with_fail_silently_is_logged_not_raised(env_credentials, fake_ses):
    env_credentials.setenv("AWS_SESSION_TOKEN", TOKEN + "\n")
    assert EmailBackend(fail_silently=True).send_messages([message()]) == 0
    assert fake_ses.requests == []
    assert EmailLog.objects.get().error_code == "InvalidCredentials"


@pytest.mark.parametrize("variable", ["AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"])
def test_trailing_newline_in_an_environment_credential_is_e001_at_startup(env_credentials, variable):
    env_credentials.setenv(variable, {"AWS_SESSION_TOKEN": TOKEN, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID}[variable] + "\n")
    messages = [m for m in run_checks() if str(m.id).startswith("django_ses_query.")]
    assert [m.id for m in messages] == ["django_ses_query.E001"]
    assert variable in messages[0].msg
    assert_hidden(messages[0].msg + str(messages[0].hint))
    env_credentials.setenv(variable, {"AWS_SESSION_TOKEN": TOKEN, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID}[variable])
    assert [m for m in run_checks() if str(m.id).startswith("django_ses_query.")] == []


def test_any_header_value_http_refuses_is_not_sent_and_not_quoted(env_credentials, fake_ses, caplog):
    # No whitespace, but a character HTTP cannot put in a header (not
    # Latin-1): http.client refuses it before anything is written.
    odd_token = TOKEN + "\u20ac"
    env_credentials.setenv("AWS_SESSION_TOKEN", odd_token)
    with pytest.raises(SESError) as caught:
        EmailBackend().send_messages([message()])
    error = caught.value
    assert error.code == "InvalidRequest"
    assert not getattr(error, "sent", False)
    assert error.__cause__ is None and error.__suppress_context__
    assert fake_ses.requests == []
    [row] = EmailLog.objects.all()
    assert row.status == EmailLog.Status.FAILED
    for text in (str(error), repr(error), caplog.text, all_columns(row)):
        assert_hidden(text)


# -- 3. Frame variables in Django's error reports ---------------------------------------


def raised_while_posting(settings) -> tuple:
    """An exception from inside the posting and signing frames (the endpoint
    refuses the connection), with its traceback."""
    settings.SES_QUERY = {**settings.SES_QUERY, "ENDPOINT_URL": refused_endpoint()}
    try:
        EmailBackend().send_messages([message()])
    except SESError:
        return sys.exc_info()
    raise AssertionError("expected a failure")


def signatures_in(text: str) -> bool:
    import re

    return bool(re.search(r"Signature=[0-9a-f]{64}", text))


@override_settings(DEBUG=False)
def test_technical_500_page_shows_no_credentials(with_token, settings):
    exc_info = raised_while_posting(settings)
    html = ExceptionReporter(None, *exc_info).get_traceback_html()
    text = ExceptionReporter(None, *exc_info).get_traceback_text()
    assert "signed_request" in html  # The frames are there, their values hidden.
    for page in (html, text):
        assert_hidden(page)
        assert not signatures_in(page)
        assert "AWS4-HMAC-SHA256 Credential" not in page


class CapturingAdminEmailHandler(AdminEmailHandler):
    """AdminEmailHandler, keeping the e-mail it would send (any Django)."""

    def send_mail(self, subject, message, *args, **kwargs):
        self.sent = (subject, message, kwargs.get("html_message"))


@override_settings(DEBUG=False, ADMINS=["admin@example.com"])
def test_admin_error_email_with_html_shows_no_credentials(with_token, settings):
    exc_info = raised_while_posting(settings)
    handler = CapturingAdminEmailHandler(include_html=True)
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal error", (), exc_info)
    handler.emit(record)
    subject, body, html = handler.sent
    assert "signed_request" in html
    for part in (subject, body, html):
        assert_hidden(part)
        assert not signatures_in(part)
