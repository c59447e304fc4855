"""The container credentials endpoint (ECS, EKS Pod Identity) and the EC2
instance metadata service (IMDSv2), against local stand-ins on 127.0.0.1.

The real 169.254.169.254 is never contacted: the suite runs with
AWS_EC2_METADATA_DISABLED=true (tests/conftest.py), and tests that use IMDS
point AWS_EC2_METADATA_SERVICE_ENDPOINT at a local fake.
"""

from __future__ import annotations

import socket
import time

import pytest

from django_ses_query.backend import EmailBackend
from django_ses_query.credentials import container, imds
from django_ses_query.exceptions import SESConfigurationError
from tests.fakeaws import FakeClock, FakeContainer, FakeIMDS, clock, issuer, send, ses  # noqa: F401 (fixtures)

MINUTE = 60


def assert_no_secret(text: str, issuer) -> None:
    for secret in issuer.secrets():
        assert secret not in text


# -- container -----------------------------------------------------------------


def test_ecs_task_relative_uri(issuer, ses, monkeypatch, clock):
    """What an ECS task has: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (the
    agent's address, 169.254.170.2, stands in for the fake's)."""
    with FakeContainer(issuer, path="/v2/credentials/0b3a-task-uuid") as agent:
        monkeypatch.setattr(container, "ECS_ENDPOINT", agent.url)
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/0b3a-task-uuid")
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        backend = EmailBackend()
        assert send(backend) == 1
        clock.advance(55 * MINUTE)
        assert send(backend) == 1
    assert ses.sent == [c.access_key_id for c in issuer.issued] and len(ses.sent) == 2
    assert backend.client.credentials_provider.source == "container"


def test_eks_pod_identity_full_uri_reads_the_token_file_at_each_fetch(issuer, ses, monkeypatch, clock, tmp_path):
    token_file = tmp_path / "eks-pod-identity-token"
    token_file.write_text("first-token\n")
    with FakeContainer(issuer, path="/v1/credentials", token="first-token") as agent:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url + "/v1/credentials")
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token_file))
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ignored-when-the-file-is-set")
        backend = EmailBackend()
        assert send(backend) == 1
        # The agent rotates the token; the next refresh reads the new one.
        agent.token = "second-token"
        token_file.write_text("second-token")
        clock.advance(55 * MINUTE)
        assert send(backend) == 1
        assert [r.headers["authorization"] for r in agent.requests()] == ["first-token", "second-token"]
    assert len(set(ses.sent)) == 2 and ses.refused == []


@pytest.mark.parametrize(
    "url",
    ["http://169.254.170.2/creds", "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1/credentials",
     "http://127.0.0.1:8080/creds", "http://localhost/creds", "https://creds.example.com/x"],
)
def test_full_uris_botocore_allows(url, monkeypatch):
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)
    assert container.endpoint() == url


@pytest.mark.parametrize("url", ["http://169.254.169.254/x", "http://example.com/creds", "ftp://127.0.0.1/x"])
def test_full_uri_to_another_host_is_refused(url, ses, monkeypatch):
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)
    with pytest.raises(SESConfigurationError) as caught:
        send()
    assert caught.value.code == "InvalidCredentialsConfig"
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" in caught.value.message


def test_container_malformed_answer_and_refusal(issuer, ses, monkeypatch):
    with FakeContainer(issuer, token="right") as agent:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url + agent.path)
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong")
        with pytest.raises(SESConfigurationError, match="answered HTTP 401: AccessDenied bad authorization token"):
            send()
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "right")
        agent.malformed = True
        with pytest.raises(SESConfigurationError, match="answered with malformed JSON") as caught:
            send()
    assert "right" not in str(caught.value)
    assert ses.sent == []


# -- instance metadata -----------------------------------------------------------


@pytest.fixture
def on_ec2(monkeypatch):
    """Instance metadata enabled, at a local fake."""

    def use(server):
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url)
        monkeypatch.setenv("AWS_METADATA_SERVICE_TIMEOUT", "0.3")
        return server

    return use


def test_ec2_imdsv2(issuer, ses, on_ec2, clock):
    with on_ec2(FakeIMDS(issuer)) as metadata:
        backend = EmailBackend()
        assert send(backend) == 1
        clock.advance(6 * 60 * MINUTE)
        assert send(backend) == 1
        requests = metadata.requests()
    assert [(r.method, r.path) for r in requests[:3]] == [
        ("PUT", "/latest/api/token"),
        ("GET", "/latest/meta-data/iam/security-credentials/"),
        ("GET", "/latest/meta-data/iam/security-credentials/ses-sender-role"),
    ]
    assert requests[0].headers["x-aws-ec2-metadata-token-ttl-seconds"] == "21600"
    assert all(r.headers.get("x-aws-ec2-metadata-token") for r in requests[1:3])
    assert len(requests) == 6  # The refresh asked again, with a new token.
    assert ses.sent == [c.access_key_id for c in issuer.issued] and len(ses.sent) == 2
    assert backend.client.credentials_provider.source == "instance-metadata (role 'ses-sender-role')"


def test_imds_that_answers_only_v1(issuer, ses, on_ec2, monkeypatch):
    with on_ec2(FakeIMDS(issuer, mode="v1")) as metadata:
        assert send() == 1
        assert [r.headers.get("x-aws-ec2-metadata-token") for r in metadata.requests()[1:]] == [None, None]
        monkeypatch.setenv("AWS_EC2_METADATA_V1_DISABLED", "true")
        with pytest.raises(SESConfigurationError, match=r"instance-metadata: .* refused an IMDSv2 token \(HTTP 403\)"):
            send()


def test_imds_that_hangs_is_not_waited_for_again_at_once(issuer, ses, on_ec2, settings):
    with on_ec2(FakeIMDS(issuer, mode="hang")) as metadata:
        with pytest.raises(SESConfigurationError) as caught:
            send()
        assert caught.value.code == "MissingCredentials"
        assert "did not answer (no answer within 0.3 s; not on EC2?)" in caught.value.message
        assert len(metadata.requests()) == 1  # The token PUT, and nothing after it.
        # Another backend configuration, later: the chain does not wait again.
        settings.SES_QUERY = {**settings.SES_QUERY, "REGION": "eu-west-1"}
        with pytest.raises(SESConfigurationError, match="did not answer earlier in this process"):
            send()
        assert len(metadata.requests()) == 1


@pytest.fixture
def metadata_clock(monkeypatch):
    """The clock that says how long ago IMDS did not answer, moved by the test."""
    fake = FakeClock()
    monkeypatch.setattr(imds, "clock", fake, raising=False)
    return fake


@pytest.fixture
def imds_not_started_yet(monkeypatch):
    """The port IMDS will listen on, refusing connections until then (bound,
    not listening, so no one else takes it); ``start(issuer)`` starts it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_METADATA_SERVICE_TIMEOUT", "0.3")

    def start(issuer):
        sock.close()
        return FakeIMDS(issuer, port=port)

    yield start
    sock.close()


def refused(backend=None) -> str:
    with pytest.raises(SESConfigurationError) as caught:
        send(backend)
    assert caught.value.code == "MissingCredentials"
    return caught.value.message


def test_imds_that_refused_is_asked_again_after_a_minute(issuer, ses, imds_not_started_yet, metadata_clock):
    """A process started before the metadata service answered gets its
    credentials within a minute, without a restart."""
    backend = EmailBackend()
    assert "did not answer (connection refused; not on EC2?)" in refused(backend)
    with imds_not_started_yet(issuer) as metadata:
        metadata_clock.advance(59)
        assert "did not answer earlier in this process (59 s ago; asked again 60 s after)" in refused()
        assert metadata.requests() == []
        metadata_clock.advance(11)
        assert send(backend) == 1
        assert send(EmailBackend()) == 1
        assert len(metadata.requests()) == 3  # Asked once: the credentials are kept.
    assert ses.sent == [issuer.issued[0].access_key_id] * 2


def test_imds_that_timed_out_is_asked_again_after_a_minute(issuer, ses, on_ec2, metadata_clock):
    with on_ec2(FakeIMDS(issuer, mode="hang")) as metadata:
        backend = EmailBackend()
        assert "did not answer (no answer within 0.3 s; not on EC2?)" in refused(backend)
        metadata.mode = "v2"
        metadata_clock.advance(30)
        assert "did not answer earlier in this process (30 s ago" in refused(backend)
        assert len(metadata.requests()) == 1
        metadata_clock.advance(40)
        assert send(backend) == 1
        assert len(metadata.requests()) == 4
    assert ses.sent == [issuer.issued[0].access_key_id]


def test_imds_failure_is_forgotten_within_a_minute_of_real_time(issuer, ses, imds_not_started_yet):
    """The same, on the real clock: about a minute of waiting."""
    backend = EmailBackend()
    assert "connection refused" in refused(backend)
    failed_by = time.monotonic()
    with imds_not_started_yet(issuer) as metadata:
        assert "did not answer earlier in this process" in refused()
        time.sleep(max(0.0, failed_by + 60.5 - time.monotonic()))
        assert send(backend) == 1
        assert len(metadata.requests()) == 3
    assert ses.sent == [issuer.issued[0].access_key_id]


def test_imds_malformed_json(issuer, ses, on_ec2):
    with on_ec2(FakeIMDS(issuer, mode="malformed")):
        with pytest.raises(SESConfigurationError, match=r"role 'ses-sender-role'\) answered with malformed JSON") as caught:
            send()
    assert caught.value.code == "CredentialsFetchError"
    assert "ASIA" not in str(caught.value)


def test_imds_without_a_role(issuer, ses, on_ec2):
    with on_ec2(FakeIMDS(issuer, mode="no-role")):
        with pytest.raises(SESConfigurationError, match="no IAM role is attached to this instance"):
            send()


def test_imds_disabled_is_not_contacted(issuer, ses, on_ec2, monkeypatch):
    with on_ec2(FakeIMDS(issuer)) as metadata:
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        with pytest.raises(SESConfigurationError, match="instance-metadata: AWS_EC2_METADATA_DISABLED is true"):
            send()
    assert metadata.requests() == []


def test_imds_default_endpoint(monkeypatch):
    monkeypatch.delenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", raising=False)
    assert imds.endpoint() == "http://169.254.169.254"
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")
    assert imds.endpoint() == "http://[fd00:ec2::254]"
