"""System checks, run the way ``manage.py check`` runs them."""

from __future__ import annotations

import django
import pytest
from django.core import checks
from django.core.checks import run_checks
from django.test import override_settings

BACKEND = "django_ses_query.backend.EmailBackend"
CREDENTIALS = {"ACCESS_KEY_ID": "AKIDEXAMPLE", "SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
# Django's model checks may query the database (JSONField support).
pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])
ENV_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def ours(**setting_overrides) -> list[checks.CheckMessage]:
    with override_settings(**setting_overrides):
        return [m for m in run_checks() if str(m.id).startswith("django_ses_query.")]


def ids(**setting_overrides) -> list[str]:
    return sorted(m.id for m in ours(**setting_overrides))


def test_the_test_settings_pass():
    assert ours() == []


def test_e001_no_credentials():
    [message] = ours(SES_QUERY={"ENDPOINT_URL": "https://email.eu-west-1.amazonaws.com"})
    assert message.id == "django_ses_query.E001"
    assert message.level == checks.ERROR
    assert "AWS_ACCESS_KEY_ID" in message.hint


def test_e001_half_the_credentials():
    assert ids(SES_QUERY={"ACCESS_KEY_ID": "AKIDEXAMPLE"}) == ["django_ses_query.E001"]


def test_environment_credentials_satisfy_e001(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert ids(SES_QUERY={}) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://email-smtp.us-east-1.amazonaws.com",
        "https://email-smtp.eu-west-1.amazonaws.com:587",
        "https://email-smtp-fips.us-east-1.amazonaws.com",
    ],
)
def test_e002_smtp_endpoint(url):
    [message] = ours(SES_QUERY={**CREDENTIALS, "ENDPOINT_URL": url})
    assert message.id == "django_ses_query.E002"
    assert message.level == checks.ERROR
    assert "https://email." in message.hint


@pytest.mark.parametrize("url", ["http://ses.example.com", "http://10.0.0.5:8080", "http://email.us-east-1.amazonaws.com"])
def test_w001_plain_http_to_another_host(url):
    [message] = ours(SES_QUERY={**CREDENTIALS, "ENDPOINT_URL": url})
    assert message.id == "django_ses_query.W001"
    assert message.level == checks.WARNING


@pytest.mark.parametrize(
    "url", ["http://localhost:4566", "http://127.0.0.1:9/", "http://127.8.9.10", "http://[::1]:8000", "https://ses.example.com"]
)
def test_loopback_http_and_https_are_fine(url):
    assert ours(SES_QUERY={**CREDENTIALS, "ENDPOINT_URL": url}) == []


def test_e003_bad_task_chunk_size():
    [message] = ours(SES_QUERY={**CREDENTIALS, "TASK_CHUNK_SIZE": 5000})
    assert message.id == "django_ses_query.E003"
    assert "TASK_CHUNK_SIZE must be None (automatic) or an integer from 1 to 1000, not 5000" in message.msg


@pytest.mark.parametrize(
    "value",
    [
        {**CREDENTIALS, "REGOIN": "eu-west-1"},
        {**CREDENTIALS, "TIMEOUT": 0},
        {**CREDENTIALS, "TAGS": "a=b"},
        {**CREDENTIALS, "EVENT_MAX_AGE_DAYS": 0},
        {**CREDENTIALS, "EVENT_MIN_SIGNATURE_VERSION": 3},
        "not a dict",
    ],
    ids=["unknown key", "bad value", "bad tags", "bad event age", "bad signature version", "not a dict"],
)
def test_e003_bad_setting(value):
    [message] = ours(SES_QUERY=value)
    assert message.id == "django_ses_query.E003"
    assert message.level == checks.ERROR
    assert "SES_QUERY" in message.msg


def test_e003_names_the_key():
    [message] = ours(SES_QUERY={**CREDENTIALS, "REGOIN": "eu-west-1"})
    assert "REGOIN" in message.msg


@pytest.mark.parametrize("url", ["ftp://email.us-east-1.amazonaws.com", "email.us-east-1.amazonaws.com", "https://"])
def test_e004_not_an_http_url(url):
    assert ids(SES_QUERY={**CREDENTIALS, "ENDPOINT_URL": url}) == ["django_ses_query.E004"]


def test_e005_log_database_missing():
    [message] = ours(SES_QUERY={**CREDENTIALS, "ENDPOINT_URL": "https://email.us-east-1.amazonaws.com",
                                "LOG_DATABASE": "nope"})
    assert message.id == "django_ses_query.E005"
    assert "nope" in message.msg


def test_log_database_is_not_needed_when_logging_is_off():
    assert ours(SES_QUERY={**CREDENTIALS, "LOG": False, "LOG_DATABASE": "nope"}) == []


def test_another_log_database():
    assert ours(SES_QUERY={**CREDENTIALS, "LOG_DATABASE": "sendlog"}) == []


def test_several_problems_at_once():
    assert ids(SES_QUERY={"ENDPOINT_URL": "https://email-smtp.us-east-1.amazonaws.com", "LOG_DATABASE": "nope"}) == [
        "django_ses_query.E001", "django_ses_query.E002", "django_ses_query.E005",
    ]


@pytest.mark.skipif(django.VERSION < (6, 1), reason="MAILERS is Django 6.1's setting")
def test_mailers_entries_are_checked_with_their_options():
    mailers = {
        "default": {"BACKEND": BACKEND, "OPTIONS": {"endpoint_url": "https://email-smtp.us-east-1.amazonaws.com"}},
        "other": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"},
        "bad": {"BACKEND": BACKEND, "OPTIONS": {"max_retries": -1}},
    }
    found = ours(MAILERS=mailers, SES_QUERY=CREDENTIALS)
    assert sorted((m.id, m.obj) for m in found) == [
        ("django_ses_query.E002", "MAILERS['default']"),
        ("django_ses_query.E003", "MAILERS['bad']"),
    ]


@pytest.mark.skipif(django.VERSION < (6, 1), reason="MAILERS is Django 6.1's setting")
def test_mailers_unknown_options_are_reported():
    mailers = {
        "default": {"BACKEND": BACKEND, "OPTIONS": {"regoin": "eu-west-1", "fail_silently": True}},
        "fine": {"BACKEND": BACKEND, "OPTIONS": {"region": "eu-west-1", "fail_silently": True}},
    }
    [message] = ours(MAILERS=mailers, SES_QUERY=CREDENTIALS)
    assert (message.id, message.obj) == ("django_ses_query.E003", "MAILERS['default']")
    assert "'regoin'" in message.msg
    assert "fail_silently" not in message.msg


def _without_ses_query():
    from django.conf import settings

    with override_settings():
        del settings.SES_QUERY
        return sorted(m.id for m in run_checks() if str(m.id).startswith("django_ses_query."))


def test_nothing_checked_when_the_backend_is_neither_configured_nor_used():
    # The app installed for its admin; development sends mail elsewhere.
    assert _without_ses_query() == []


@pytest.mark.skipif(django.VERSION >= (6, 1), reason="EMAIL_BACKEND is deprecated on Django 6.1")
def test_e001_when_email_backend_is_this_one_without_ses_query():
    with override_settings(EMAIL_BACKEND=BACKEND):
        assert _without_ses_query() == ["django_ses_query.E001"]


def test_w002_concurrency_without_a_rate_limit():
    base = {**CREDENTIALS, "MAX_CONCURRENCY": 8}
    assert ids(SES_QUERY=base) == ["django_ses_query.W002"]
    assert ids(SES_QUERY={**base, "MAX_SEND_RATE": 14}) == []
    assert ids(SES_QUERY={**base, "SEND_RATE_FROM_QUOTA": True}) == []


@pytest.mark.parametrize(
    "key,value",
    [
        ("LOG_BODY", "False"),
        ("RETRY_UNKNOWN_OUTCOME", "0"),
        ("SEND_RATE_FROM_QUOTA", "False"),
        ("CONFIGURATION_SET", "my-set\n"),
        ("SESSION_TOKEN", "token-from-a-file\n"),
    ],
)
def test_e003_values_of_the_wrong_type_or_with_a_newline(key, value):
    [message] = ours(SES_QUERY={**CREDENTIALS, key: value})
    assert message.id == "django_ses_query.E003"
    assert key in message.msg
    assert "token-from-a-file" not in message.msg


@pytest.mark.parametrize(
    "url",
    [
        "https://email.us-east-1.amazonaws.com:99999",
        "https://email.us-east-1.amazonaws.com:-1",
        "https://email.us-east-1.amazonaws.com:port",
        "https://émail.example.com",
        "https://[::1",
        "https://user:password@email.us-east-1.amazonaws.com",
        "https://email.us-east-1.amazonaws.com/\n",
    ],
)
def test_e004_a_url_that_cannot_be_used(url):
    [message] = ours(SES_QUERY={**CREDENTIALS, "ENDPOINT_URL": url})
    assert message.id == "django_ses_query.E004"
    assert "ENDPOINT_URL" in message.msg


@pytest.mark.parametrize(
    "inbound, words",
    [
        ({"INBOUND_STORE_RAW": "False"}, "INBOUND_STORE_RAW must be True or False"),
        ({"INBOUND_MAX_BYTES": "40MB"}, "INBOUND_MAX_BYTES must be an integer"),
        ({"INBOUND_MAX_BYTES": 0}, "INBOUND_MAX_BYTES must be an integer >= 1"),
        ({"INBOUND_DISCARD_ON_FAIL": "spam"}, "INBOUND_DISCARD_ON_FAIL must be a list"),
        ({"INBOUND_DISCARD_ON_FAIL": ["spam", "dkim"]}, "INBOUND_DISCARD_ON_FAIL may hold 'spam' and 'virus', not 'dkim'"),
    ],
)
def test_e003_inbound_settings(inbound, words):
    [message] = ours(SES_QUERY={**CREDENTIALS, **inbound})
    assert message.id == "django_ses_query.E003"
    assert words in message.msg


def test_inbound_settings_defaults_and_values():
    from django_ses_query.conf import Config

    config = Config()
    assert (config.inbound_store_raw, config.inbound_max_bytes, config.inbound_discard_on_fail) == (
        False, 40 * 1024 * 1024, ())
    assert Config(inbound_discard_on_fail=["spam", "virus"]).inbound_discard_on_fail == ("spam", "virus")
    assert ours(SES_QUERY={**CREDENTIALS, "INBOUND_STORE_RAW": True, "INBOUND_MAX_BYTES": 1024,
                           "INBOUND_DISCARD_ON_FAIL": ["virus"]}) == []
