"""The email backend against Django's contract, through the local endpoint."""

from __future__ import annotations

import re
import sys

import django
import django.conf
import pytest
import requests
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy

from django_ses_query.backend import EmailBackend
from django_ses_query.exceptions import (
    SESError,
    SESMessageRejectedError,
    SESThrottlingError,
    SESTransportError,
)
from tests.fakeses import error, refused_endpoint

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])

BACKEND = "django_ses_query.backend.EmailBackend"
DJANGO_61 = django.VERSION >= (6, 1)
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN//+="


def ignore_on_61(*messages: str):
    """Ignore exactly these RemovedInDjango2028Warning messages, on 6.1 only."""

    def decorate(function):
        if not DJANGO_61:
            return function
        for message in messages:
            function = pytest.mark.filterwarnings(
                f"ignore:{re.escape(message)}:django.utils.deprecation.RemovedInDjango2028Warning"
            )(function)
        return function

    return decorate


EMAIL_BACKEND_SETTING = "The EMAIL_BACKEND setting is deprecated."
FAIL_SILENTLY_ARGUMENT = "The 'fail_silently' argument is deprecated."
GET_CONNECTION = "get_connection() is deprecated."
NO_DEFAULT_MAILER = "Django 2028 will not have a default mailer."


def message(subject="Subject", to=("to@example.com",), **kwargs):
    return EmailMessage(subject, "Body", "from@example.com", list(to), **kwargs)


@pytest.fixture
def sessions(monkeypatch):
    """Every requests.Session the backend creates (real ones, counted)."""
    created = []

    class CountingSession(requests.Session):
        closed = False

        def __init__(self):
            super().__init__()
            created.append(self)

        def close(self):
            self.closed = True
            super().close()

    monkeypatch.setattr(requests, "Session", CountingSession)
    return created


# -- send_messages ------------------------------------------------------------------


def test_a_batch_is_sent_in_order_by_default(backend, fake_ses):
    assert backend.send_messages([message(f"m{i}") for i in range(5)]) == 5
    assert [r.params["Message.Subject.Data"] for r in fake_ses.sent] == [f"m{i}" for i in range(5)]


def test_returns_the_number_sent(backend, fake_ses):
    assert backend.send_messages([message("a"), message("b"), message("c")]) == 3
    assert sorted(r.params["Message.Subject.Data"] for r in fake_ses.sent) == ["a", "b", "c"]


def test_accepts_a_generator(backend, fake_ses):
    assert backend.send_messages(message(f"m{i}") for i in range(3)) == 3
    assert len(fake_ses.sent) == 3


def test_accepts_an_iterator(backend, fake_ses):
    assert backend.send_messages(iter([message("a"), message("b")])) == 2


def test_empty_list_sends_nothing_and_opens_no_session(backend, fake_ses, sessions):
    assert backend.send_messages([]) == 0
    assert backend.send_messages(iter(())) == 0
    assert sessions == []
    assert fake_ses.requests == []


def test_messages_without_recipients_are_skipped(backend, fake_ses, sessions):
    nobody = EmailMessage("nobody", "Body", "from@example.com")
    assert backend.send_messages([nobody]) == 0
    assert sessions == []
    assert backend.send_messages([nobody, message("someone")]) == 1
    assert [r.params["Message.Subject.Data"] for r in fake_ses.requests] == ["someone"]


def test_message_id_is_set(backend, fake_ses):
    first, second = message("a"), message("b", headers={"X-Custom": "1"})
    backend.send_messages([first, second])
    by_subject = {r.params.get("Message.Subject.Data"): r.message_id for r in fake_ses.sent}
    assert first.ses_message_id == by_subject["a"]
    raw = next(r for r in fake_ses.sent if r.action == "SendRawEmail")
    assert second.ses_message_id == raw.message_id
    assert first.ses_message_id != second.ses_message_id
    # The send log row of each message.
    assert first.ses_log.status == "sent"
    assert first.ses_log.message_id == first.ses_message_id


def test_message_id_stays_none_on_failure(fake_ses):
    fake_ses.enqueue(error("MessageRejected"))
    failed = message()
    assert EmailBackend(fail_silently=True).send_messages([failed]) == 0
    assert failed.ses_message_id is None


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Custom": "1"}, {"X-SES-CONFIGURATION-SET": "cs", "X-SES-MESSAGE-TAGS": "a=b"}],
    ids=["none", "custom", "ses"],
)
def test_extra_headers_are_never_written(backend, fake_ses, headers):
    sent = message(headers=dict(headers))
    before = sent.extra_headers
    backend.send_messages([sent])
    assert sent.extra_headers is before
    assert sent.extra_headers == headers
    assert sent.ses_message_id


# -- Connections ------------------------------------------------------------------------


def test_one_session_between_open_and_close(backend, fake_ses, sessions):
    assert backend.open() is True
    assert backend.open() is False  # Already open.
    backend.send_messages([message("a")])
    backend.send_messages([message("b", headers={"X-Custom": "1"})])
    backend.send_messages([message("c")])
    assert len(sessions) == 1 and not sessions[0].closed
    backend.close()
    assert sessions[0].closed
    connections = {r.connection_id for r in fake_ses.requests}
    assert len(fake_ses.requests) == 3
    assert len(connections) == 1  # Keep-alive: one TCP connection.


def test_send_messages_opens_and_closes_when_not_open(backend, fake_ses, sessions):
    backend.send_messages([message("a")])
    backend.send_messages([message("b")])
    assert len(sessions) == 2
    assert all(session.closed for session in sessions)
    first, second = fake_ses.requests
    assert first.connection_id != second.connection_id


def test_a_batch_uses_one_session(fake_ses, sessions, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "MAX_CONCURRENCY": 1}
    assert EmailBackend().send_messages([message(f"m{i}") for i in range(4)]) == 4
    assert len(sessions) == 1 and sessions[0].closed
    assert len({r.connection_id for r in fake_ses.requests}) == 1


def test_context_manager(backend, fake_ses, sessions):
    with backend as connection:
        assert connection is backend
        assert connection.send_messages([message("a")]) == 1
        assert connection.send_messages([message("b")]) == 1
        assert not sessions[0].closed
    assert len(sessions) == 1 and sessions[0].closed
    assert len({r.connection_id for r in fake_ses.requests}) == 1
    # Usable again after close.
    assert backend.send_messages([message("c")]) == 1


def test_close_without_open_is_harmless(backend):
    backend.close()
    backend.close()


# -- Failures ----------------------------------------------------------------------------


def test_fail_silently_false_raises(backend, fake_ses):
    fake_ses.enqueue(error("MessageRejected"))
    with pytest.raises(SESMessageRejectedError):
        backend.send_messages([message()])


def test_fail_silently_true_counts_only_the_sent(fake_ses, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "MAX_CONCURRENCY": 1}
    fake_ses.enqueue(error("MessageRejected"))
    backend = EmailBackend(fail_silently=True)
    assert backend.send_messages([message("rejected"), message("ok1"), message("ok2")]) == 2
    assert [r.params["Message.Subject.Data"] for r in fake_ses.sent] == ["ok1", "ok2"]


def test_fail_silently_true_with_concurrency(fake_ses, settings, sessions):
    settings.SES_QUERY = {**settings.SES_QUERY, "MAX_CONCURRENCY": 4}
    fake_ses.enqueue(error("Throttling_daily"))
    assert EmailBackend(fail_silently=True).send_messages([message(f"m{i}") for i in range(5)]) == 4
    assert len(fake_ses.requests) == 5
    assert len(sessions) == 1 and sessions[0].closed


def test_fail_silently_false_with_concurrency_raises(fake_ses, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "MAX_CONCURRENCY": 4}
    fake_ses.enqueue(error("MessageRejected"))
    with pytest.raises(SESMessageRejectedError):
        EmailBackend().send_messages([message(f"m{i}") for i in range(3)])


def test_transport_errors(settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "ENDPOINT_URL": refused_endpoint()}
    assert EmailBackend(fail_silently=True).send_messages([message()]) == 0
    with pytest.raises(SESTransportError):
        EmailBackend().send_messages([message()])


def test_retries_then_succeeds(fake_ses, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "MAX_RETRIES": 2}
    fake_ses.enqueue(error("Throttling"))
    sent = message()
    assert EmailBackend().send_messages([sent]) == 1
    assert len(fake_ses.requests) == 2
    assert sent.ses_message_id == fake_ses.sent[0].message_id


def test_errors_are_ses_errors(backend, fake_ses):
    fake_ses.enqueue(error("Throttling"))
    with pytest.raises(SESError) as caught:
        backend.send_messages([message()])
    assert isinstance(caught.value, SESThrottlingError)


# -- Lazy strings -------------------------------------------------------------------------


def test_lazy_strings(backend, fake_ses):
    lazy_str = lazy(str, str)
    sent = EmailMultiAlternatives(
        gettext_lazy("Subject ü"),
        gettext_lazy("Body ü"),
        lazy_str("Sender <from@example.com>"),
        [lazy_str("to@exämple.com")],
        cc=[lazy_str("cc@example.com")],
        reply_to=[lazy_str("reply@example.com")],
    )
    sent.attach_alternative(gettext_lazy("<p>Body</p>"), "text/html")
    raw = EmailMessage(gettext_lazy("Raw"), gettext_lazy("Body ü"), lazy_str("from@example.com"),
                       [lazy_str("to@example.com")], bcc=[lazy_str("bcc@example.com")],
                       headers={"X-Custom": "1"})
    assert backend.send_messages([sent, raw]) == 2
    params = next(r.params for r in fake_ses.sent if r.action == "SendEmail")
    assert params["Message.Subject.Data"] == "Subject ü"
    assert params["Message.Body.Text.Data"] == "Body ü"
    assert params["Message.Body.Html.Data"] == "<p>Body</p>"
    assert params["Source"] == "Sender <from@example.com>"
    assert params["Destination.ToAddresses.member.1"] == "to@xn--exmple-cua.com"
    assert params["ReplyToAddresses.member.1"] == "reply@example.com"
    raw_params = next(r.params for r in fake_ses.sent if r.action == "SendRawEmail")
    assert raw_params["Destinations.member.2"] == "bcc@example.com"


# -- Session token --------------------------------------------------------------------------


def test_session_token_is_sent_and_signed(fake_ses, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "SESSION_TOKEN": SESSION_TOKEN}
    assert EmailBackend().send_messages([message()]) == 1
    headers = fake_ses.requests[0].headers
    assert headers["X-Amz-Security-Token"] == SESSION_TOKEN
    signed = re.search(r"SignedHeaders=([^,\s]+)", headers["Authorization"]).group(1).split(";")
    assert "x-amz-security-token" in signed
    assert {"host", "x-amz-date"} <= set(signed)


def test_no_session_token_header_without_a_token(backend, fake_ses):
    backend.send_messages([message()])
    headers = fake_ses.requests[0].headers
    assert headers["X-Amz-Security-Token"] is None
    assert "x-amz-security-token" not in headers["Authorization"]


# -- Construction ------------------------------------------------------------------------------


@ignore_on_61(GET_CONNECTION, NO_DEFAULT_MAILER)
def test_get_connection_keyword_arguments_win(fake_ses, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "REGION": "us-west-2", "MAX_RETRIES": 3}
    connection = mail.get_connection(BACKEND, region="eu-west-1", max_retries=0)
    assert isinstance(connection, EmailBackend)
    assert connection.send_messages([message()]) == 1
    assert "/eu-west-1/ses/aws4_request" in fake_ses.requests[0].headers["Authorization"]
    assert "eu-west-1" in repr(connection)


@ignore_on_61(GET_CONNECTION, NO_DEFAULT_MAILER)
def test_get_connection_fail_silently(fake_ses):
    connection = mail.get_connection(BACKEND, fail_silently=True)
    fake_ses.enqueue(error("MessageRejected"))
    assert connection.send_messages([message()]) == 0


@pytest.mark.skipif(DJANGO_61, reason="Django 5.2's contract")
def test_unknown_keyword_arguments_are_a_type_error_on_52():
    with pytest.raises(TypeError, match="bogus"):
        EmailBackend(bogus=1)
    with pytest.raises(TypeError, match="username"):
        EmailBackend(username="user")
    # What Django 5.2's send_mail() passes when no auth_user/auth_password.
    EmailBackend(username=None, password=None)


@pytest.mark.skipif(not DJANGO_61, reason="Django 6.1's MAILERS")
def test_unknown_option_with_an_alias_is_invalid_mailer_on_61():
    with pytest.raises(mail.InvalidMailer, match="bogus"):
        EmailBackend(alias="ses", bogus=1)


@pytest.mark.skipif(not DJANGO_61, reason="Django 6.1's contract")
def test_unknown_keyword_argument_without_an_alias_warns_on_61():
    from django.utils.deprecation import RemovedInDjango2028Warning

    with pytest.warns(RemovedInDjango2028Warning, match="'bogus'"):
        EmailBackend(bogus=1)


@pytest.mark.skipif(not DJANGO_61, reason="Django 6.1's MAILERS")
def test_bad_option_value_with_an_alias_is_invalid_mailer_on_61():
    with pytest.raises(mail.InvalidMailer, match=r"MAILERS\['ses'\].*MAX_RETRIES"):
        EmailBackend(alias="ses", max_retries=-1)


def test_bad_keyword_value_is_improperly_configured():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="TIMEOUT"):
        EmailBackend(timeout=0)


# -- Django's sending functions through EMAIL_BACKEND ---------------------------------------


@pytest.fixture
def email_backend_setting(settings, fake_ses):
    settings.EMAIL_BACKEND = BACKEND
    settings.SERVER_EMAIL = "server@example.com"
    settings.EMAIL_SUBJECT_PREFIX = "[Site] "
    # Django 6.0 takes plain addresses and deprecates 5.2's (name, address) pairs.
    settings.ADMINS = ["admin@example.com"] if django.VERSION >= (6, 0) else [("Admin", "admin@example.com")]
    return fake_ses


@ignore_on_61(EMAIL_BACKEND_SETTING)
def test_send_mail(email_backend_setting):
    fake_ses = email_backend_setting
    assert mail.send_mail("Hello", "Body", "from@example.com", ["to@example.com"], html_message="<p>Body</p>") == 1
    [sent] = fake_ses.sent
    assert sent.params["Action"] == "SendEmail"
    assert sent.params["Message.Body.Html.Data"] == "<p>Body</p>"


@ignore_on_61(EMAIL_BACKEND_SETTING, FAIL_SILENTLY_ARGUMENT)
def test_send_mail_fail_silently(email_backend_setting):
    email_backend_setting.enqueue(error("MessageRejected"))
    assert mail.send_mail("Hello", "Body", "from@example.com", ["to@example.com"], fail_silently=True) == 0
    email_backend_setting.enqueue(error("MessageRejected"))
    with pytest.raises(SESMessageRejectedError):
        mail.send_mail("Hello", "Body", "from@example.com", ["to@example.com"])


@ignore_on_61(EMAIL_BACKEND_SETTING)
def test_email_message_send(email_backend_setting):
    sent = EmailMessage("Hello", "Body", "from@example.com", ["to@example.com"])
    sent.attach("a.txt", "attached", "text/plain")
    assert sent.send() == 1
    [recorded] = email_backend_setting.sent
    assert recorded.action == "SendRawEmail"
    assert sent.ses_message_id == recorded.message_id


@ignore_on_61(EMAIL_BACKEND_SETTING, FAIL_SILENTLY_ARGUMENT)
def test_email_message_send_fail_silently(email_backend_setting):
    email_backend_setting.enqueue(error("MessageRejected"))
    assert EmailMessage("Hello", "Body", "from@example.com", ["to@example.com"]).send(fail_silently=True) == 0


@ignore_on_61(EMAIL_BACKEND_SETTING)
def test_mail_admins(email_backend_setting):
    mail.mail_admins("Server down", "Details")
    [sent] = email_backend_setting.sent
    assert sent.params["Source"] == "server@example.com"
    assert sent.params["Destination.ToAddresses.member.1"] == "admin@example.com"
    assert sent.params["Message.Subject.Data"] == "[Site] Server down"


# -- Django 6.1's MAILERS -----------------------------------------------------------------------

needs_mailers = pytest.mark.skipif(not DJANGO_61, reason="Django 6.1's MAILERS")


@pytest.fixture
def mailers(settings, fake_ses):
    settings.MAILERS = {
        "default": {"BACKEND": BACKEND, "OPTIONS": {"endpoint_url": fake_ses.endpoint_url, "max_retries": 0}},
        "eu": {"BACKEND": BACKEND, "OPTIONS": {"endpoint_url": fake_ses.endpoint_url, "region": "eu-west-1"}},
    }
    return fake_ses


@needs_mailers
def test_mailers_default(mailers):
    backend = mail.mailers["default"]
    assert isinstance(backend, EmailBackend)
    assert backend.alias == "default"
    assert backend.send_messages([message()]) == 1
    assert len(mailers.sent) == 1


@needs_mailers
def test_send_mail_using_an_alias(mailers):
    assert mail.send_mail("Hello", "Body", "from@example.com", ["to@example.com"], using="eu") == 1
    [sent] = mailers.sent
    assert "/eu-west-1/ses/aws4_request" in sent.headers["Authorization"]


@needs_mailers
def test_email_message_send_using(mailers):
    sent = message()
    assert sent.send(using="default") == 1
    assert sent.ses_message_id == mailers.sent[0].message_id


@needs_mailers
def test_mailers_unknown_option_is_invalid_mailer(settings, fake_ses):
    settings.MAILERS = {"default": {"BACKEND": BACKEND, "OPTIONS": {"endpoint_url": fake_ses.endpoint_url, "bogus": 1}}}
    with pytest.raises(mail.InvalidMailer, match="bogus"):
        mail.mailers["default"]
    assert fake_ses.requests == []


@needs_mailers
def test_mailers_bad_option_value_is_invalid_mailer(settings, fake_ses):
    settings.MAILERS = {"default": {"BACKEND": BACKEND, "OPTIONS": {"timeout": "soon"}}}
    with pytest.raises(mail.InvalidMailer, match="TIMEOUT"):
        mail.mailers["default"]


# -- Django's EMAIL_* settings are not the backend's ---------------------------------------------


class RecordingSettings:
    """Forwards to Django's settings; records the names read."""

    def __init__(self, wrapped, names):
        object.__setattr__(self, "_wrapped_settings", wrapped)
        object.__setattr__(self, "_names", names)

    def __getattr__(self, name):
        self._names.append(name)
        return getattr(self._wrapped_settings, name)


def test_email_settings_are_never_read(fake_ses, monkeypatch):
    from django.core.checks import run_checks

    names: list[str] = []
    proxy = RecordingSettings(django.conf.settings, names)
    monkeypatch.setattr(django.conf, "settings", proxy)
    for name, module in list(sys.modules.items()):
        if name.startswith("django_ses_query") and getattr(module, "settings", None) is proxy._wrapped_settings:
            monkeypatch.setattr(module, "settings", proxy)

    backend = EmailBackend()
    assert backend.send_messages([message("a"), message("b", headers={"X-Custom": "1"})]) == 2
    run_checks()

    assert "SES_QUERY" in names  # The recording works.
    assert [name for name in names if name.startswith("EMAIL_")] == []
