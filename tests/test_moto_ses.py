from __future__ import annotations

from collections.abc import Iterator

import botocore.session
import pytest

from tests.moto_ses import MotoSES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def moto_ses() -> Iterator[MotoSES]:
    with MotoSES() as server:
        yield server
    assert not server.running


@pytest.fixture
def ses_client(moto_ses: MotoSES):
    session = botocore.session.Session()
    client = session.create_client(
        "ses",
        region_name=moto_ses.region,
        endpoint_url=moto_ses.endpoint_url,
        aws_access_key_id=moto_ses.access_key_id,
        aws_secret_access_key=moto_ses.secret_access_key,
    )
    yield client
    client.close()


def error_code(body: str) -> str:
    return body.split("<Code>", 1)[1].split("</Code>", 1)[0]


def test_bootstrap_gave_a_key(moto_ses: MotoSES) -> None:
    assert moto_ses.running
    assert moto_ses.endpoint_url == f"http://127.0.0.1:{moto_ses.port}"
    assert moto_ses.access_key_id.startswith("AKIA")
    assert len(moto_ses.access_key_id) == 20
    assert moto_ses.secret_access_key
    assert moto_ses.access_key_id in repr(moto_ses)
    assert moto_ses.secret_access_key not in repr(moto_ses)


def test_verify_then_send_email_is_recorded(moto_ses: MotoSES) -> None:
    verify = moto_ses.signed_post(
        {"Action": "VerifyEmailIdentity", "EmailAddress": "sender@example.com"}
    )
    assert verify.status_code == 200, verify.text

    send = moto_ses.signed_post(
        {
            "Action": "SendEmail",
            "Source": "sender@example.com",
            "Destination.ToAddresses.member.1": "to@example.net",
            "Destination.BccAddresses.member.1": "bcc@example.net",
            "Message.Subject.Data": "Hello",
            "Message.Body.Text.Data": "Hello there",
        }
    )
    assert send.status_code == 200, send.text
    message_id = send.text.split("<MessageId>", 1)[1].split("</MessageId>", 1)[0]

    [sent] = [m for m in moto_ses.sent_messages() if m["id"] == message_id]
    assert sent["kind"] == "Message"
    assert sent["source"] == "sender@example.com"
    assert sent["subject"] == "Hello"
    assert sent["body"] == "Hello there"
    assert sent["destinations"] == {
        "ToAddresses": ["to@example.net"],
        "BccAddresses": ["bcc@example.net"],
    }


def test_botocore_client_send_raw_email_is_recorded(
    moto_ses: MotoSES, ses_client
) -> None:
    moto_ses.verify_domain_identity("example.org")
    raw = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: Raw\r\n\r\nBody\r\n"

    response = ses_client.send_raw_email(RawMessage={"Data": raw})

    [sent] = [
        m for m in moto_ses.sent_messages() if m["id"] == response["MessageId"]
    ]
    assert sent["kind"] == "RawMessage"
    assert sent["source"] == "a@example.org"
    assert sent["raw_data"] == raw.decode()
    assert sent["destinations"] == ["b@example.net"]


def test_wrong_secret_is_signature_does_not_match(moto_ses: MotoSES) -> None:
    response = moto_ses.signed_post(
        {"Action": "VerifyEmailIdentity", "EmailAddress": "sender@example.com"},
        secret_access_key="not-the-secret",
    )
    assert response.status_code == 403
    assert error_code(response.text) == "SignatureDoesNotMatch"


def test_unknown_key_is_invalid_client_token_id(moto_ses: MotoSES) -> None:
    response = moto_ses.signed_post(
        {"Action": "VerifyEmailIdentity", "EmailAddress": "sender@example.com"},
        access_key_id="AKIAUNKNOWNUNKNOWN00",
    )
    assert response.status_code == 403
    assert error_code(response.text) == "InvalidClientTokenId"


def test_temporary_credentials(moto_ses: MotoSES) -> None:
    key, secret, token = moto_ses.temporary_credentials()
    params = {"Action": "VerifyEmailIdentity", "EmailAddress": "temp@example.com"}

    ok = moto_ses.signed_post(
        params, access_key_id=key, secret_access_key=secret, session_token=token
    )
    without_token = moto_ses.signed_post(
        params, access_key_id=key, secret_access_key=secret
    )

    assert key.startswith("ASIA")
    assert ok.status_code == 200, ok.text
    assert without_token.status_code == 403
    assert error_code(without_token.text) == "InvalidClientTokenId"
    # Auth is back on afterwards.
    assert moto_ses.signed_post(params, secret_access_key="x").status_code == 403


def test_reset_ses_keeps_credentials_and_identities(moto_ses: MotoSES) -> None:
    moto_ses.verify_email_identity("kept@example.com")
    key, secret = moto_ses.access_key_id, moto_ses.secret_access_key

    moto_ses.reset_ses()

    assert (moto_ses.access_key_id, moto_ses.secret_access_key) == (key, secret)
    assert moto_ses.sent_messages() == []
    send = moto_ses.signed_post(
        {
            "Action": "SendEmail",
            "Source": "kept@example.com",
            "Destination.ToAddresses.member.1": "to@example.net",
            "Message.Subject.Data": "After reset",
            "Message.Body.Text.Data": "Still here",
        }
    )
    assert send.status_code == 200, send.text
    assert [m["subject"] for m in moto_ses.sent_messages()] == ["After reset"]
