"""Settings: keyword arguments > SES_QUERY > environment > defaults; bad
settings are named; the secret never shows."""

from __future__ import annotations

import logging
import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage

from django_ses_query.backend import EmailBackend
from django_ses_query.conf import get_config
from django_ses_query.exceptions import SESConfigurationError, SESError
from django_ses_query.models import EmailLog
from tests.fakeses import error, reset_connection

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])

SECRET = "s3cr3t/KEY+that-must-never-leak"
TOKEN = "session-token-that-must-never-leak"
ENV_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION")
CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/ses/aws4_request")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def no_settings_credentials(settings):
    settings.SES_QUERY = {
        k: v for k, v in settings.SES_QUERY.items() if k not in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY")
    }


def message():
    return EmailMessage("Subject", "Body", "from@example.com", ["to@example.com"])


def signed_with(fake_ses, backend) -> tuple[str, str]:
    """(access key id, region) of the request the endpoint received."""
    assert backend.send_messages([message()]) == 1
    authorization = fake_ses.requests[-1].headers["Authorization"]
    return CREDENTIAL.search(authorization).groups()


# -- Region and endpoint --------------------------------------------------------


def test_defaults(settings, monkeypatch):
    settings.SES_QUERY = {}
    config = get_config()
    assert config.region == "us-east-1"
    assert config.endpoint_url == "https://email.us-east-1.amazonaws.com"
    assert config.configuration_set is None
    assert config.tags == {}


def test_region_from_aws_default_region(settings, monkeypatch):
    settings.SES_QUERY = {}
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert get_config().endpoint_url == "https://email.ap-south-1.amazonaws.com"


def test_aws_region_wins_over_aws_default_region(settings, monkeypatch):
    settings.SES_QUERY = {}
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    config = get_config()
    assert config.region == "eu-central-1"
    assert config.endpoint_url == "https://email.eu-central-1.amazonaws.com"


def test_setting_wins_over_environment(settings, monkeypatch):
    settings.SES_QUERY = {"REGION": "us-west-2"}
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert get_config().endpoint_url == "https://email.us-west-2.amazonaws.com"


def test_keyword_wins_over_setting(settings, monkeypatch):
    settings.SES_QUERY = {"REGION": "us-west-2", "MAX_RETRIES": 5}
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    config = get_config(region="eu-west-1", max_retries=1)
    assert config.region == "eu-west-1"
    assert config.endpoint_url == "https://email.eu-west-1.amazonaws.com"
    assert config.max_retries == 1


def test_explicit_endpoint_url_is_kept(settings):
    settings.SES_QUERY = {"REGION": "eu-west-1", "ENDPOINT_URL": "https://ses.internal.example"}
    config = get_config()
    assert config.endpoint_url == "https://ses.internal.example"
    assert config.region == "eu-west-1"


def test_region_reaches_the_signature(fake_ses, monkeypatch, settings):
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert signed_with(fake_ses, EmailBackend())[1] == "eu-central-1"
    settings.SES_QUERY = {**settings.SES_QUERY, "REGION": "us-west-2"}
    assert signed_with(fake_ses, EmailBackend())[1] == "us-west-2"
    assert signed_with(fake_ses, EmailBackend(region="ap-south-1"))[1] == "ap-south-1"


# -- Credentials ----------------------------------------------------------------


def test_credentials_from_the_environment(fake_ses, no_settings_credentials, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    assert signed_with(fake_ses, EmailBackend())[0] == "AKIDENV"
    assert fake_ses.requests[-1].headers["X-Amz-Security-Token"] == TOKEN


def test_settings_credentials_win_over_the_environment(fake_ses, settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    assert signed_with(fake_ses, EmailBackend())[0] == settings.SES_QUERY["ACCESS_KEY_ID"]
    # The environment's token belongs to the environment's key.
    assert fake_ses.requests[-1].headers["X-Amz-Security-Token"] is None


def test_keyword_credentials_win_over_settings(fake_ses):
    backend = EmailBackend(access_key_id="AKIDKWARG", secret_access_key=SECRET)
    assert signed_with(fake_ses, backend)[0] == "AKIDKWARG"


def test_no_credentials_is_a_clear_error_and_nothing_is_sent(fake_ses, no_settings_credentials):
    with pytest.raises(SESConfigurationError) as caught:
        EmailBackend().send_messages([message()])
    assert "AWS_ACCESS_KEY_ID" in str(caught.value)
    assert fake_ses.requests == []


# -- Bad settings -----------------------------------------------------------------


@pytest.mark.parametrize("key", ["REGOIN", "region", "Timeout", "EMAIL_HOST", 1])
def test_unknown_keys_are_named(settings, key):
    settings.SES_QUERY = {**settings.SES_QUERY, key: "x"}
    with pytest.raises(ImproperlyConfigured) as caught:
        get_config()
    assert str(key) in str(caught.value)
    assert "REGION" in str(caught.value)  # The known keys are listed.


@pytest.mark.parametrize(
    "key,value",
    [
        ("TIMEOUT", 0),
        ("TIMEOUT", "10"),
        ("RETRY_BUDGET", -1),
        ("MAX_RETRIES", -1),
        ("MAX_RETRIES", 1.5),
        ("MAX_RETRIES", True),
        ("MAX_CONCURRENCY", 0),
        ("MAX_SEND_RATE", 0),
        ("MAX_SEND_RATE", "14"),
        ("LOG", "yes"),
        ("TAGS", "app=web"),
        ("TAGS", ["app", "web"]),
        ("TAGS", {"bad name": "web"}),
        ("TAGS", {"app": "bad value"}),
        ("CONFIGURATION_SET", "has space"),
        ("CONFIGURATION_SET", "x" * 65),
        ("REGION", 5),
        ("ENDPOINT_URL", 5),
        ("EVENT_MAX_AGE_DAYS", 0),
        ("EVENT_MAX_AGE_DAYS", -14),
        ("EVENT_MAX_AGE_DAYS", "14"),
        ("EVENT_MAX_AGE_DAYS", 1.5),
        ("EVENT_MAX_AGE_DAYS", True),
        ("EVENT_MIN_SIGNATURE_VERSION", 0),
        ("EVENT_MIN_SIGNATURE_VERSION", 3),
        ("EVENT_MIN_SIGNATURE_VERSION", "2"),
        ("EVENT_MIN_SIGNATURE_VERSION", None),
        ("EVENT_MIN_SIGNATURE_VERSION", True),
    ],
)
def test_bad_values_are_named(settings, key, value):
    settings.SES_QUERY = {**settings.SES_QUERY, key: value}
    with pytest.raises(ImproperlyConfigured) as caught:
        get_config()
    assert str(caught.value).startswith("SES_QUERY")
    assert key in str(caught.value)


def test_several_problems_are_reported_together(settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "TIMEOUT": 0, "MAX_RETRIES": -1}
    with pytest.raises(ImproperlyConfigured) as caught:
        get_config()
    assert "TIMEOUT" in str(caught.value) and "MAX_RETRIES" in str(caught.value)


def test_setting_must_be_a_dict(settings):
    settings.SES_QUERY = [("REGION", "eu-west-1")]
    with pytest.raises(ImproperlyConfigured, match="SES_QUERY"):
        get_config()


def test_backend_raises_for_bad_settings(settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "TIMEOUT": -1}
    with pytest.raises(ImproperlyConfigured, match="TIMEOUT"):
        EmailBackend()


def test_good_settings_are_accepted(settings):
    settings.SES_QUERY = {
        **settings.SES_QUERY, "TIMEOUT": 2.5, "MAX_RETRIES": 0, "LOG": "failures",
        "TAGS": {"app": "web-1", "env": "prod_2"}, "CONFIGURATION_SET": "set-1",
        "MAX_SEND_RATE": 14, "MAX_CONCURRENCY": 1,
    }
    config = get_config()
    assert config.timeout == 2.5
    assert config.log == "failures"
    assert config.tags == {"app": "web-1", "env": "prod_2"}
    assert config.configuration_set == "set-1"


def test_event_replay_settings(settings):
    settings.SES_QUERY = {}
    config = get_config()
    assert (config.event_max_age_days, config.event_min_signature_version) == (14, 1)
    settings.SES_QUERY = {"EVENT_MAX_AGE_DAYS": None, "EVENT_MIN_SIGNATURE_VERSION": 2}
    config = get_config()
    assert (config.event_max_age_days, config.event_min_signature_version) == (None, 2)
    assert get_config(event_max_age_days=1).event_max_age_days == 1


def test_the_secret_is_not_echoed_when_it_is_the_wrong_type(settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "SECRET_ACCESS_KEY": 123456789}
    with pytest.raises(ImproperlyConfigured) as caught:
        get_config()
    assert "SECRET_ACCESS_KEY" in str(caught.value)
    assert "123456789" not in str(caught.value)


# -- The secret never shows ---------------------------------------------------------


@pytest.fixture
def secret_settings(settings, fake_ses):
    settings.SES_QUERY = {
        **settings.SES_QUERY, "ACCESS_KEY_ID": "AKIDVISIBLE", "SECRET_ACCESS_KEY": SECRET,
        "SESSION_TOKEN": TOKEN, "MAX_RETRIES": 2, "MAX_CONCURRENCY": 1,
    }


def assert_hidden(text: str) -> None:
    assert SECRET not in text
    assert TOKEN not in text


def test_not_in_reprs(secret_settings):
    backend = EmailBackend()
    assert_hidden(repr(get_config()))
    assert_hidden(str(get_config()))
    assert_hidden(repr(backend))
    assert_hidden(str(backend))
    assert_hidden(repr(backend.client.credentials_provider.get_credentials()))
    assert "AKIDVISIBLE" in repr(get_config())


def test_not_in_errors_logs_or_send_log(secret_settings, fake_ses, caplog):
    caplog.set_level(logging.DEBUG)
    backend = EmailBackend()
    # Throttled, retried, then refused.
    fake_ses.enqueue(error("Throttling"), error("SignatureDoesNotMatch"))
    with pytest.raises(SESError) as caught:
        backend.send_messages([message()])
    backend.fail_silently = True
    fake_ses.enqueue(reset_connection())
    assert backend.send_messages([message()]) == 0
    assert backend.send_messages([message()]) == 1

    assert len(fake_ses.requests) == 4
    assert "AKIDVISIBLE" in fake_ses.requests[0].headers["Authorization"]
    assert caplog.records, "expected log output to inspect"
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert_hidden(text)
    rows = list(EmailLog.objects.all())
    assert len(rows) == 3
    for row in rows:
        assert_hidden(" ".join(str(value) for value in row.__dict__.values()))


# -- Types: a string never turns an option on -----------------------------------------


@pytest.mark.parametrize(
    "key,value",
    [
        ("LOG_BODY", "False"),
        ("LOG_BODY", 0),
        ("RETRY_UNKNOWN_OUTCOME", "0"),
        ("RETRY_UNKNOWN_OUTCOME", "False"),
        ("SEND_RATE_FROM_QUOTA", "False"),
        ("SEND_RATE_FROM_QUOTA", 1),
        ("SUPPRESSION", "no"),
        ("LOG", "False"),
        ("LOG", 1),
        ("ROLE_DURATION", "3600"),
        ("LOG_COMMIT_ROWS", 1.5),
        ("EVENT_TOPIC_ARNS", "arn:aws:sns:us-east-1:123456789012:ses"),
        ("TASK_PRIORITY", "10"),
    ],
)
def test_flags_and_numbers_are_checked_by_type(settings, key, value):
    settings.SES_QUERY = {**settings.SES_QUERY, key: value}
    with pytest.raises(ImproperlyConfigured) as caught:
        get_config()
    assert key in str(caught.value)


@pytest.mark.parametrize("key", ["LOG_BODY", "RETRY_UNKNOWN_OUTCOME", "SEND_RATE_FROM_QUOTA"])
def test_a_keyword_argument_of_the_wrong_type_is_refused(settings, key):
    with pytest.raises(ImproperlyConfigured, match=key):
        EmailBackend(**{key.lower(): "False"})


@pytest.mark.parametrize(
    "key,value",
    [
        ("CONFIGURATION_SET", "my-set\n"),
        ("TAGS", {"app\n": "web"}),
        ("TAGS", {"app": "web\n"}),
    ],
)
def test_a_trailing_newline_is_not_a_valid_name(settings, key, value):
    settings.SES_QUERY = {**settings.SES_QUERY, key: value}
    with pytest.raises(ImproperlyConfigured, match=key):
        get_config()


@pytest.mark.parametrize("key", ["ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN"])
@pytest.mark.parametrize("suffix", ["\n", " ", "\r\n", "\t"])
def test_whitespace_in_a_credential_setting_is_refused_without_showing_it(settings, key, suffix):
    value = {"ACCESS_KEY_ID": "AKIDVISIBLE", "SECRET_ACCESS_KEY": SECRET, "SESSION_TOKEN": TOKEN}[key]
    settings.SES_QUERY = {**settings.SES_QUERY, key: value + suffix}
    with pytest.raises(ImproperlyConfigured) as caught:
        get_config()
    assert key in str(caught.value)
    assert "whitespace" in str(caught.value)
    assert value not in str(caught.value)


# -- An endpoint that cannot be used: an error at send time, logged ---------------------


@pytest.mark.parametrize(
    "url", ["https://email.us-east-1.amazonaws.com:99999", "https://émail.example.com", "https://[::1"]
)
def test_a_bad_endpoint_is_a_configuration_error_at_send_time(settings, url, caplog):
    settings.SES_QUERY = {**settings.SES_QUERY, "ENDPOINT_URL": url}
    with pytest.raises(SESConfigurationError) as caught:
        EmailBackend().send_messages([message()])
    assert caught.value.code == "InvalidEndpoint"
    assert "ENDPOINT_URL" in str(caught.value)
    [row] = EmailLog.objects.all()
    assert (row.status, row.error_code) == (EmailLog.Status.FAILED, "InvalidEndpoint")
    assert "InvalidEndpoint" in caplog.text


@pytest.mark.parametrize("quota", [False, True])
def test_a_bad_endpoint_honours_fail_silently(settings, quota):
    settings.SES_QUERY = {
        **settings.SES_QUERY, "ENDPOINT_URL": "https://email.us-east-1.amazonaws.com:70000",
        "SEND_RATE_FROM_QUOTA": quota,
    }
    backend = EmailBackend(fail_silently=True)
    assert backend.send_messages([message(), message()]) == 0
    assert [r.error_code for r in EmailLog.objects.all()] == ["InvalidEndpoint"] * 2
