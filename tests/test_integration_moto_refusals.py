"""Moto's SES server, with signatures checked: refusals (by SES or before any
request), credentials, fail_silently, and Django 6.1's MAILERS. The shared
set-up is in tests/moto_sending.py."""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives, send_mail

from django_ses_query.exceptions import (
    SESAuthenticationError,
    SESError,
    SESInvalidMessageError,
    SESMessageRejectedError,
)
from django_ses_query.models import EmailLog

from tests.moto_sending import ses, wire  # noqa: F401  Fixtures.
from tests.moto_sending import (
    BACKEND, DJANGO_61, SENDER, UNVERIFIED_SENDER, message, needs_mailers, only_sent, ses_query,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


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
