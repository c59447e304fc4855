"""Where the S3 action's object is fetched from, and in which region."""

from __future__ import annotations

import pytest

from django_ses_query.inbound.receipt import read_receipt
from django_ses_query.inbound.s3 import object_url
from tests.inbound_mail import received


@pytest.fixture(autouse=True)
def no_endpoints(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def test_virtual_hosted_by_default():
    assert object_url("inbound", "mail/a b+c é", "eu-west-1") == (
        "https://inbound.s3.eu-west-1.amazonaws.com/mail/a%20b%2Bc%20%C3%A9")
    assert object_url("inbound", "k", "cn-north-1") == "https://inbound.s3.cn-north-1.amazonaws.com.cn/k"


def test_a_bucket_with_dots_is_path_style():
    assert object_url("mail.example.com", "k", "us-east-2") == "https://s3.us-east-2.amazonaws.com/mail.example.com/k"


def test_endpoint_environment_variables_as_botocore_reads_them(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/")
    assert object_url("inbound", "a b", "us-east-1") == "http://127.0.0.1:9000/inbound/a%20b"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9001")
    assert object_url("inbound", "a b", "us-east-1") == "http://127.0.0.1:9001/inbound/a%20b"


def test_region_from_the_topic_arn_else_the_setting():
    receipt = read_receipt(received(None, action="S3", topic_arn="arn:aws:sns:eu-central-1:123456789012:inbound"))
    assert receipt.region("us-east-1") == "eu-central-1"
    receipt = read_receipt(received(None, action="S3", topic_arn="not an arn"))
    assert receipt.region("us-west-2") == "us-west-2"


@pytest.fixture
def s3_receipts(settings, sns_adapter, monkeypatch):
    from tests.snskeys import TOPIC_ARN

    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_TOPIC_ARNS": [TOPIC_ARN], "ACCESS_KEY_ID": "AKIDEXAMPLE",
                          "SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}

    def post(client, endpoint):
        import json

        from tests.inbound_mail import now
        from tests.snskeys import envelope

        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        message = envelope(message=received(None, action="S3", key="mail/k"), Timestamp=now())
        return client.post("/ses/events/", json.dumps(message), content_type="text/plain")

    return post


@pytest.mark.django_db
def test_an_s3_server_error_is_500(client, fake_ses, s3_receipts, caplog):
    from django_ses_query.models import InboundEmail
    from tests.fakeses import xml

    fake_ses.enqueue(xml(503, b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"))
    with caplog.at_level("ERROR", "django_ses_query"):
        assert s3_receipts(client, fake_ses.endpoint_url).status_code == 500
    assert "s3://inbound-mail/mail/k could not be read: SlowDown (HTTP 503)" in caplog.text
    assert [r.method for r in fake_ses.requests] == ["GET"]  # After a HEAD the fake cannot answer.
    assert "x-amz-content-sha256" in fake_ses.requests[0].headers["Authorization"]
    assert not InboundEmail.objects.exists()


@pytest.mark.django_db
def test_an_unreachable_s3_is_500(client, s3_receipts, caplog):
    from django_ses_query.models import InboundEmail
    from tests.fakeses import refused_endpoint

    with caplog.at_level("ERROR", "django_ses_query"):
        assert s3_receipts(client, refused_endpoint()).status_code == 500
    assert "s3://inbound-mail/mail/k could not be read" in caplog.text
    assert not InboundEmail.objects.exists()


@pytest.mark.parametrize("bucket", [
    "localhost/", "[::1]", "2852039166/", "user@evil.example:80", "a", "Inbound-Mail", "mail..example", "-mail",
])
def test_a_bucket_that_is_not_an_s3_bucket_name_is_refused(bucket):
    """bucketName becomes the host fetched with our signature: S3's naming rules, or nothing."""
    from django_ses_query.inbound.receipt import MalformedReceipt

    with pytest.raises(MalformedReceipt, match="bucketName"):
        read_receipt(received(None, action="S3", bucket=bucket, key="mail/k"))


@pytest.mark.parametrize("key", ["mail/\nk", "mail/\x00", "k" * 1025])
def test_a_key_that_is_not_an_s3_key_is_refused(key):
    from django_ses_query.inbound.receipt import MalformedReceipt

    with pytest.raises(MalformedReceipt, match="objectKey"):
        read_receipt(received(None, action="S3", key=key))


@pytest.mark.django_db
def test_a_receipt_naming_another_host_fetches_nothing(client, fake_ses, settings, sns_adapter):
    import json

    from django_ses_query.models import InboundEmail
    from tests.inbound_mail import now
    from tests.snskeys import TOPIC_ARN, envelope

    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_TOPIC_ARNS": [TOPIC_ARN]}
    message = envelope(message=received(None, action="S3", bucket="127.0.0.1:1/", key="k"), Timestamp=now())
    assert client.post("/ses/events/", json.dumps(message), content_type="text/plain").status_code == 400
    assert fake_ses.requests == [] and not InboundEmail.objects.exists()


def test_a_signed_answer_larger_than_its_cap_is_not_read_whole(fake_ses):
    """What the S3 GET relies on when the HEAD gave no length: reading stops at the cap."""
    from django_ses_query.credentials import Credentials
    from django_ses_query.exceptions import SESResponseError
    from django_ses_query.transport.endpoint import Endpoint
    from tests.fakeses import raw

    fake_ses.enqueue(raw(200, b"x" * 50_000, content_type="message/rfc822"))
    with Endpoint(fake_ses.endpoint_url, timeout=5, service="S3") as endpoint:
        with pytest.raises(SESResponseError, match="larger than 1000 bytes") as raised:
            endpoint.signed_request(
                "POST", b"Action=GetObject", {}, credentials=Credentials("AKIDEXAMPLE", "secret"),
                region="us-east-1", service="s3", max_bytes=1000,
            )
    assert raised.value.code == "AnswerTooLarge"
