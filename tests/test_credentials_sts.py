"""STS AssumeRole (signed by this package's signer, service ``sts``) and
AssumeRoleWithWebIdentity (unsigned), against moto's server with signature
checking on: every SES send below is accepted by moto only when it is signed
with the temporary key, secret and session token that moto's STS issued.
"""

from __future__ import annotations

import json

import pytest

from django_ses_query.backend import EmailBackend
from django_ses_query.credentials import sts
from django_ses_query.exceptions import SESConfigurationError
from tests.fakeaws import FakeSTS, Issuer, clock, send  # noqa: F401 (fixtures)
from tests.moto_ses import ACCOUNT_ID, IAM_VERSION, ROLE_NAME, USER_NAME, MotoSES

ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE_NAME}"
SENDER = "sender@example.com"
MINUTE = 60


@pytest.fixture(scope="module")
def moto():
    """A moto server of our own (its IAM policies differ from the shared one's):
    the user may assume the role, and the role may send and assume itself."""
    with MotoSES() as server:
        server.temporary_credentials()  # Creates the role (ses:* allowed).
        allow = json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "ses:*"], "Resource": "*"}],
        })
        server.set_auth(False)
        for kind, name in (("User", USER_NAME), ("Role", ROLE_NAME)):
            server._checked(
                {"Action": f"Put{kind}Policy", f"{kind}Name": name, "PolicyName": "assume",
                 "PolicyDocument": allow, "Version": IAM_VERSION},
                service="iam",
            )
        # moto matches the trust policy's principals exactly (not the account root).
        trust = json.dumps({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT_ID}:user/{USER_NAME}", ROLE_ARN]},
                "Action": ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"],
            }],
        })
        server._checked(
            {"Action": "UpdateAssumeRolePolicy", "RoleName": ROLE_NAME, "PolicyDocument": trust,
             "Version": IAM_VERSION},
            service="iam",
        )
        server.set_auth(True)
        server.verify_email_identity(SENDER)
        yield server


@pytest.fixture
def on_moto(moto, settings, monkeypatch):
    settings.SES_QUERY = {"ENDPOINT_URL": moto.endpoint_url, "MAX_RETRIES": 0, "LOG": False}
    settings.DEFAULT_FROM_EMAIL = SENDER
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto.endpoint_url)
    return moto


def send_from(backend) -> int:
    from django.core.mail import EmailMessage

    return backend.send_messages([EmailMessage("Hi", "Body", SENDER, ["to@example.com"])])


def test_role_arn_on_top_of_the_settings_keys_across_an_expiry(on_moto, settings, clock):
    settings.SES_QUERY = {
        **settings.SES_QUERY,
        "ACCESS_KEY_ID": on_moto.access_key_id, "SECRET_ACCESS_KEY": on_moto.secret_access_key,
        "ROLE_ARN": ROLE_ARN, "ROLE_SESSION_NAME": "newsletter", "ROLE_DURATION": 900,
    }
    backend = EmailBackend()
    assert send_from(backend) == 1
    first = backend.client.credentials()
    assert first.access_key_id.startswith("ASIA") and first.session_token
    assert backend.client.credentials_provider.source == f"settings, then ROLE_ARN {ROLE_ARN}"
    clock.advance(10 * MINUTE)  # 900 s credentials: 5 minutes left, mandatory
    assert send_from(backend) == 1
    second = backend.client.credentials()
    assert second.access_key_id != first.access_key_id
    assert len(on_moto.sent_messages()) >= 2


def test_a_signature_with_the_wrong_token_is_refused_by_moto(on_moto, settings):
    """The check above means something: moto refuses a wrong session token."""
    key, secret, _ = on_moto.temporary_credentials()
    settings.SES_QUERY = {**settings.SES_QUERY, "ACCESS_KEY_ID": key, "SECRET_ACCESS_KEY": secret,
                          "SESSION_TOKEN": "not-the-issued-token"}
    from django_ses_query.exceptions import SESAuthenticationError

    with pytest.raises(SESAuthenticationError, match="InvalidClientTokenId"):
        send_from(EmailBackend())


def test_profile_role_with_source_profile(on_moto, tmp_path, monkeypatch, settings):
    (tmp_path / "credentials").write_text(
        f"[base]\naws_access_key_id = {on_moto.access_key_id}\naws_secret_access_key = {on_moto.secret_access_key}\n"
    )
    (tmp_path / "config").write_text(
        f"[profile sender]\nrole_arn = {ROLE_ARN}\nsource_profile = base\nrole_session_name = from-profile\n"
        "external_id = shared-external-id\nregion = us-east-1\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.delenv("AWS_ENDPOINT_URL_STS")
    monkeypatch.setenv("AWS_ENDPOINT_URL", on_moto.endpoint_url)  # The fallback override.
    settings.SES_QUERY = {**settings.SES_QUERY, "PROFILE": "sender"}
    backend = EmailBackend()
    assert send_from(backend) == 1
    assert backend.client.credentials_provider.source == "assume-role (profile 'sender')"
    assert backend.client.credentials().session_token


def test_profile_role_with_credential_source_environment(on_moto, tmp_path, monkeypatch):
    (tmp_path / "config").write_text(f"[default]\nrole_arn = {ROLE_ARN}\ncredential_source = Environment\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", on_moto.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", on_moto.secret_access_key)
    monkeypatch.setenv("AWS_PROFILE", "default")
    # The environment's keys come first in the chain; they are the source
    # of the role only for a profile chosen in SES_QUERY, which skips them.
    backend = EmailBackend(profile="default")
    assert send_from(backend) == 1
    assert backend.client.credentials_provider.source == "assume-role (profile 'default')"


def test_eks_web_identity_across_an_expiry(on_moto, tmp_path, monkeypatch, clock):
    """What an EKS pod with IRSA has: AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE
    (and AWS_REGION); STS is moto."""
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.first-projected-token.signature")
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE_ARN)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    backend = EmailBackend()
    # AssumeRoleWithWebIdentity is unsigned: moto lets exactly that one
    # request through unauthenticated; the send after it is checked.
    on_moto._api("/moto-api/reset-auth", "1")
    assert send_from(backend) == 1
    first = backend.client.credentials()
    assert backend.client.credentials_provider.source == f"web-identity (role {ROLE_ARN})"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.rotated-projected-token.signature")
    clock.advance(55 * MINUTE)
    on_moto._api("/moto-api/reset-auth", "1")
    assert send_from(backend) == 1
    assert backend.client.credentials().access_key_id != first.access_key_id


def test_assume_role_refused_names_the_role_and_code(on_moto, settings):
    key, secret, token = on_moto.temporary_credentials()
    settings.SES_QUERY = {**settings.SES_QUERY, "ACCESS_KEY_ID": "AKIAUNKNOWNKEY000000",
                          "SECRET_ACCESS_KEY": "not-a-real-secret", "ROLE_ARN": ROLE_ARN,
                          "EXTERNAL_ID": "external-id-value"}
    with pytest.raises(SESConfigurationError) as caught:
        send_from(EmailBackend())
    message = str(caught.value)
    assert f"STS AssumeRole for {ROLE_ARN}" in message and "InvalidClientTokenId" in message
    assert "not-a-real-secret" not in message and "external-id-value" not in message


# -- against a recording STS -------------------------------------------------------


def test_web_identity_is_unsigned_and_rereads_the_token_file(tmp_path, monkeypatch, clock, settings):
    issuer = Issuer(clock)
    from tests.fakeaws import CheckingSES

    token_file = tmp_path / "token"
    token_file.write_text("first-token\n")
    with FakeSTS(issuer) as fake_sts, CheckingSES(issuer) as ses:
        settings.SES_QUERY = {"ENDPOINT_URL": ses.url, "MAX_RETRIES": 0, "LOG": False}
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fake_sts.url)
        monkeypatch.setenv("AWS_ROLE_ARN", ROLE_ARN)
        monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "pod-session")
        monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
        backend = EmailBackend()
        assert send(backend) == 1
        token_file.write_text("second-token\n")
        clock.advance(50 * MINUTE)  # advisory window
        assert send(backend) == 1
        calls = fake_sts.requests()
    assert [c.params["WebIdentityToken"] for c in calls] == ["first-token", "second-token"]
    assert all("authorization" not in c.headers for c in calls)
    assert calls[0].params["Action"] == "AssumeRoleWithWebIdentity"
    assert calls[0].params["Version"] == "2011-06-15"
    assert calls[0].params["RoleSessionName"] == "pod-session"
    assert ses.sent == [c.access_key_id for c in issuer.issued]


def test_web_identity_token_never_in_errors(tmp_path, monkeypatch, clock, settings):
    issuer = Issuer(clock)
    token_file = tmp_path / "token"
    token_file.write_text("super-secret-oidc-token")
    with FakeSTS(issuer) as fake_sts:
        fake_sts.refuse = "InvalidIdentityToken"
        settings.SES_QUERY = {"ENDPOINT_URL": "http://127.0.0.1:9/", "MAX_RETRIES": 0, "LOG": False}
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fake_sts.url)
        monkeypatch.setenv("AWS_ROLE_ARN", ROLE_ARN)
        monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
        with pytest.raises(SESConfigurationError) as caught:
            send()
    assert "InvalidIdentityToken" in str(caught.value)
    assert "super-secret-oidc-token" not in str(caught.value) + repr(caught.value)


def test_sts_endpoint_rules(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL_STS", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert sts.endpoint_url("eu-west-1") == "https://sts.eu-west-1.amazonaws.com"
    assert sts.endpoint_url("cn-north-1") == "https://sts.cn-north-1.amazonaws.com.cn"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    assert sts.endpoint_url("eu-west-1") == "http://localhost:4566"
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "https://sts-fips.us-east-1.amazonaws.com")
    assert sts.endpoint_url("eu-west-1") == "https://sts-fips.us-east-1.amazonaws.com"


def test_role_arn_on_top_of_container_credentials_is_signed_for_sts(clock, monkeypatch, settings):
    """AssumeRole signed (service sts, checked with botocore's signer) with the
    container's temporary credentials; the sends use the role's."""
    from tests.fakeaws import CheckingSES, FakeContainer

    task, role = Issuer(clock), Issuer(clock)
    with FakeContainer(task) as agent, FakeSTS(role, signers=task) as fake_sts, CheckingSES(role) as ses:
        settings.SES_QUERY = {"ENDPOINT_URL": ses.url, "MAX_RETRIES": 0, "LOG": False,
                              "ROLE_ARN": ROLE_ARN, "EXTERNAL_ID": "partner-external-id", "REGION": "eu-west-1"}
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url + agent.path)
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fake_sts.url)
        backend = EmailBackend()
        assert send(backend) == 1
        clock.advance(55 * MINUTE)  # Both the task's and the role's credentials are near expiry.
        assert send(backend) == 1
        calls = fake_sts.requests()
    assert [c.params["Action"] for c in calls] == ["AssumeRole", "AssumeRole"]
    assert calls[0].params["ExternalId"] == "partner-external-id"
    assert calls[0].params["DurationSeconds"] == "3600"
    assert "/eu-west-1/sts/aws4_request" in calls[0].headers["authorization"]
    # Each AssumeRole was signed with the task credentials current at the time.
    assert [c.headers["x-amz-security-token"] for c in calls] == [c.session_token for c in task.issued]
    assert ses.sent == [c.access_key_id for c in role.issued] and len(ses.sent) == 2
    assert backend.client.credentials_provider.source == f"container, then ROLE_ARN {ROLE_ARN}"
