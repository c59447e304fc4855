"""The chain's order, the error when nothing gives credentials, system check
E001, ``ses_sendtestemail --dry-run``, and secrets kept out of everything a
person can read."""

from __future__ import annotations

import logging
from io import StringIO

import pytest
from django.core import checks
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_ses_query.backend import EmailBackend
from django_ses_query.credentials import Credentials
from django_ses_query.exceptions import SESAuthenticationError, SESConfigurationError
from tests.fakeaws import FakeContainer, FakeIMDS, clock, issuer, send, ses  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])


def use_environment(monkeypatch, issued):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", issued.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", issued.secret_access_key)
    if issued.session_token:
        monkeypatch.setenv("AWS_SECURITY_TOKEN", issued.session_token)  # the legacy name


def test_the_signature_checking_endpoint_refuses_a_wrong_secret_or_token(issuer, ses, settings):
    """The tests' SES is strict: a wrong secret or token does not pass."""
    issued = issuer.issue()
    base = {**settings.SES_QUERY, "ACCESS_KEY_ID": issued.access_key_id, "SESSION_TOKEN": issued.session_token}
    settings.SES_QUERY = {**base, "SECRET_ACCESS_KEY": "wrong"}
    with pytest.raises(SESAuthenticationError, match="SignatureDoesNotMatch"):
        send()
    settings.SES_QUERY = {**base, "SECRET_ACCESS_KEY": issued.secret_access_key, "SESSION_TOKEN": "wrong"}
    with pytest.raises(SESAuthenticationError, match="InvalidClientTokenId"):
        send()
    settings.SES_QUERY = {**base, "SECRET_ACCESS_KEY": issued.secret_access_key}
    assert send() == 1


def test_settings_come_before_the_environment(issuer, ses, settings, monkeypatch):
    from_settings, from_env = issuer.issue(temporary=False), issuer.issue()
    use_environment(monkeypatch, from_env)
    assert send() == 1  # The environment, with AWS_SECURITY_TOKEN as the token.
    settings.SES_QUERY = {**settings.SES_QUERY, "ACCESS_KEY_ID": from_settings.access_key_id,
                          "SECRET_ACCESS_KEY": from_settings.secret_access_key}
    assert send() == 1
    assert ses.sent == [from_env.access_key_id, from_settings.access_key_id]


def test_the_environment_comes_before_the_container(issuer, ses, monkeypatch):
    from_env = issuer.issue(temporary=False)
    with FakeContainer(issuer) as agent:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url + agent.path)
        use_environment(monkeypatch, from_env)
        assert send() == 1
        assert agent.requests() == []
    assert ses.sent == [from_env.access_key_id]


def test_half_a_key_pair_in_the_settings_is_an_error_not_a_fall_through(issuer, ses, settings, monkeypatch):
    use_environment(monkeypatch, issuer.issue())
    settings.SES_QUERY = {**settings.SES_QUERY, "ACCESS_KEY_ID": "AKIAONLYTHEKEY"}
    with pytest.raises(SESConfigurationError, match="sets ACCESS_KEY_ID but not SECRET_ACCESS_KEY"):
        send()


def test_no_credentials_names_every_source_tried_and_why(ses):
    with pytest.raises(SESConfigurationError) as caught:
        send()
    error = caught.value
    assert error.code == "MissingCredentials"
    for expected in (
        "1. settings: SES_QUERY has no ACCESS_KEY_ID and SECRET_ACCESS_KEY",
        "2. environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
        "3. assume-role: profile 'default' has no role_arn",
        "4. web-identity: AWS_WEB_IDENTITY_TOKEN_FILE is not set",
        "5. shared-credentials-file: no [default] in ",
        "6. credential_process: profile 'default' has no credential_process",
        "7. config-file: no profile 'default' in ",
        "8. container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set",
        "9. instance-metadata: AWS_EC2_METADATA_DISABLED is true",
    ):
        assert expected in error.message
    assert ses.requests() == []


def test_secrets_never_in_reprs_logs_or_errors(issuer, ses, monkeypatch, caplog):
    with FakeContainer(issuer) as agent:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url + agent.path)
        backend = EmailBackend()
        with caplog.at_level(logging.DEBUG, "django_ses_query"):
            assert send(backend) == 1
            ses.answer_expired_token = True
            with pytest.raises(SESAuthenticationError) as caught:
                send(backend)
        credentials = backend.client.credentials()
        shown = " ".join([
            caplog.text, repr(credentials), str(credentials), repr(backend), repr(backend.client.credentials_provider),
            repr(backend.config), str(caught.value), repr(caught.value),
        ])
    assert "AWS credentials from container (access key id ASIAFAKE" in caplog.text
    for secret in issuer.secrets():
        assert secret not in shown
    assert "<redacted>" in repr(credentials)


# -- E001 ---------------------------------------------------------------------------


def e001(**setting_overrides) -> list[checks.CheckMessage]:
    with override_settings(**setting_overrides):
        return [m for m in run_checks() if m.id == "django_ses_query.E001"]


def test_e001_when_no_source_could_apply():
    [error] = e001(SES_QUERY={})
    assert error.level == checks.ERROR
    assert "AWS_EC2_METADATA_DISABLED is true" in error.msg
    assert "AWS_ACCESS_KEY_ID" in error.hint


def test_no_e001_while_instance_metadata_could_apply_and_it_is_not_contacted(issuer, monkeypatch):
    with FakeIMDS(issuer) as metadata:
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", metadata.url)
        assert e001(SES_QUERY={}) == []
        assert metadata.requests() == []


@pytest.mark.parametrize(
    "variables",
    [
        {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"},
        {"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/token", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r"},
        {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secret"},
    ],
)
def test_no_e001_when_a_source_could_apply(variables, monkeypatch):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert e001(SES_QUERY={}) == []


def test_e001_for_a_named_profile_that_does_not_exist(tmp_path, monkeypatch):
    (tmp_path / "config").write_text("[profile mail]\ncredential_process = never-run-at-startup\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    assert e001(SES_QUERY={"PROFILE": "mail"}) == []
    [error] = e001(SES_QUERY={"PROFILE": "mial"})
    assert "The AWS profile 'mial' is not in" in error.msg


def test_e001_for_a_container_uri_that_is_not_allowed(monkeypatch):
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://203.0.113.9/creds")
    [error] = e001(SES_QUERY={})
    assert "is not allowed" in error.msg


# -- ses_sendtestemail --dry-run ----------------------------------------------------------


def test_dry_run_prints_the_source_and_key_id_never_the_secret(issuer, ses, monkeypatch):
    with FakeContainer(issuer) as agent:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url + agent.path)
        out = StringIO()
        call_command("ses_sendtestemail", "to@example.com", "--dry-run", stdout=out, stderr=StringIO())
    [issued] = issuer.issued
    text = out.getvalue()
    assert f"Credentials: container, access key id {issued.access_key_id}" in text
    assert issued.secret_access_key not in text and issued.session_token not in text
    assert ses.requests() == []


def test_dry_run_without_credentials_lists_the_sources(ses):
    with pytest.raises(CommandError, match=r"^MissingCredentials: No AWS credentials found\. Tried, in order: 1\. settings"):
        call_command("ses_sendtestemail", "to@example.com", "--dry-run", stdout=StringIO(), stderr=StringIO())


def test_credentials_repr_hides_the_secret_and_token():
    text = repr(Credentials("AKID", "the-secret", "the-token", 1_800_000_000))
    assert "the-secret" not in text and "the-token" not in text
    assert "expiration=2027-01-15T08:00:00Z" in text
