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
