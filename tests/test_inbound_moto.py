"""Inbound mail against moto's server (S3, SQS, SES receipt rules), with
moto checking every request's SigV4 signature: the S3 action's object
fetched through the transport, through the webhook and through
``ses_events``."""

from __future__ import annotations

import json
import logging
import re
from io import StringIO
from urllib.parse import quote

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from django.core.management import call_command

from django_ses_query.models import InboundEmail
from tests.inbound_mail import message_id, now, raw_message, received
from tests.snskeys import OTHER_KEY, TOPIC_ARN, envelope

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

BUCKET = "inbound-mail"
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:*", "sqs:*", "sns:*", "ses:*"], "Resource": "*"}]})


def _xml(tag: str, text: str) -> str:
    return re.search(rf"<{tag}>([^<]*)</{tag}>", text).group(1)


class AWS:
    """moto's server with an IAM user allowed S3, SQS, SNS and SES, a bucket,
    a queue, and an active receipt rule set whose S3 action writes to the
    bucket and notifies a topic."""

    def __init__(self) -> None:
        from tests.moto_ses import MotoSES

        self.moto = MotoSES().start()
        self.moto.set_auth(False)
        iam = {"service": "iam"}
        self.moto._checked({"Action": "CreateUser", "UserName": "inbound", "Version": "2010-05-08"}, **iam)
        self.moto._checked({"Action": "PutUserPolicy", "UserName": "inbound", "PolicyName": "all",
                            "PolicyDocument": POLICY, "Version": "2010-05-08"}, **iam)
        body = self.moto._checked({"Action": "CreateAccessKey", "UserName": "inbound", "Version": "2010-05-08"},
                                  **iam)
        self.key, self.secret = _xml("AccessKeyId", body), _xml("SecretAccessKey", body)
        self.moto.set_auth(True)
        assert self.s3("PUT", f"/{BUCKET}").status_code == 200
        self.topic_arn = _xml("TopicArn", self.call("sns", {"Action": "CreateTopic", "Name": "inbound",
                                                            "Version": "2010-03-31"}))
        ses = {"Version": "2010-12-01"}
        self.call("ses", {"Action": "CreateReceiptRuleSet", "RuleSetName": "inbound", **ses})
        self.call("ses", {
            "Action": "CreateReceiptRule", "RuleSetName": "inbound", "Rule.Name": "to-s3", "Rule.Enabled": "true",
            "Rule.ScanEnabled": "true", "Rule.Recipients.member.1": "support@example.com",
            "Rule.Actions.member.1.S3Action.BucketName": BUCKET,
            "Rule.Actions.member.1.S3Action.ObjectKeyPrefix": "inbound/",
            "Rule.Actions.member.1.S3Action.TopicArn": self.topic_arn, **ses,
        })
        self.call("ses", {"Action": "SetActiveReceiptRuleSet", "RuleSetName": "inbound", **ses})
        self.queues = 0
        self.new_queue()

    def new_queue(self) -> None:
        self.queues += 1
        self.queue_url = _xml("QueueUrl", self.call("sqs", {
            "Action": "CreateQueue", "QueueName": f"inbound-{self.queues}", "Version": "2012-11-05"}))

    def call(self, service: str, params: dict) -> str:
        response = self.moto.signed_post(params, service=service, access_key_id=self.key,
                                         secret_access_key=self.secret)
        assert response.status_code == 200, response.text
        return response.text

    def s3(self, method: str, path: str, data: bytes = b"", headers: dict | None = None) -> requests.Response:
        """A request signed by botocore's S3 signer (independent of ours)."""
        request = AWSRequest(method=method, url=self.moto.endpoint_url + path, data=data, headers=headers or {})
        S3SigV4Auth(Credentials(self.key, self.secret), "s3", "us-east-1").add_auth(request)
        prepared = request.prepare()
        return requests.request(method, prepared.url, data=data, headers=dict(prepared.headers), timeout=30)

    def put(self, key: str, data: bytes, **headers: str) -> None:
        response = self.s3("PUT", f"/{BUCKET}/" + quote(key.encode(), safe="/~"), data, headers)
        assert response.status_code == 200, response.text

    def exists(self, key: str) -> bool:
        return self.s3("HEAD", f"/{BUCKET}/" + quote(key.encode(), safe="/~")).status_code == 200

    def send(self, body: str) -> None:
        self.call("sqs", {"Action": "SendMessage", "QueueUrl": self.queue_url, "MessageBody": body,
                          "Version": "2012-11-05"})

    def queue_length(self) -> int:
        text = self.call("sqs", {"Action": "GetQueueAttributes", "QueueUrl": self.queue_url,
                                 "AttributeName.1": "All", "Version": "2012-11-05"})
        values = dict(re.findall(r"<Name>(\w+)</Name>\s*<Value>(\d+)</Value>", text))
        return int(values["ApproximateNumberOfMessages"]) + int(values["ApproximateNumberOfMessagesNotVisible"])



@pytest.fixture(scope="module")
def aws():
    aws = AWS()
    yield aws
    aws.moto.stop()


@pytest.fixture
def inbound(aws, settings, monkeypatch, sns_adapter):
    aws.new_queue()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", aws.moto.endpoint_url)
    settings.SES_QUERY = {
        **settings.SES_QUERY, "ACCESS_KEY_ID": aws.key, "SECRET_ACCESS_KEY": aws.secret,
        "REGION": "us-east-1", "EVENT_TOPIC_ARNS": [TOPIC_ARN], "EVENT_QUEUE_URL": aws.queue_url,
        "INBOUND_STORE_RAW": True,
    }
    return aws


def post(client, notification, **fields):
    message = envelope(message=notification, Timestamp=now(), **fields)
    return client.post("/ses/events/", json.dumps(message), content_type="text/plain; charset=UTF-8")


def poll(*args: str) -> str:
    out = StringIO()
    call_command("ses_events", "--once", *args, stdout=out)
    return out.getvalue()


# -- The webhook ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ["inbound/plain", "inbound/a space+plus", "inbound/non-ascii é 日本"])
def test_s3_action_is_fetched_and_stored(client, inbound, key):
    raw = raw_message(body=b"from S3\r\n")
    inbound.put(key, raw)
    notification = received(None, action="S3", key=key)
    assert post(client, notification).status_code == 200
    row = InboundEmail.objects.get()
    assert (row.action, row.s3_bucket, row.s3_key) == ("S3", BUCKET, key)
    assert row.text_body == "from S3\r\n"
    assert bytes(row.raw) == raw and row.size_bytes == len(raw)
    assert row.problems == []


def test_server_side_kms_encryption_is_read_as_usual(client, inbound):
    key = f"inbound/{message_id()}"
    inbound.put(key, raw_message(body=b"sse-kms\r\n"), **{"x-amz-server-side-encryption": "aws:kms"})
    assert post(client, received(None, action="S3", key=key)).status_code == 200
    assert InboundEmail.objects.get().text_body == "sse-kms\r\n"


def test_unreadable_object_is_500_until_it_can_be_read(client, inbound, caplog):
    key = f"inbound/{message_id()}"
    notification = received(None, action="S3", key=key)
    with caplog.at_level(logging.ERROR, "django_ses_query"):
        assert post(client, notification).status_code == 500
    assert InboundEmail.objects.count() == 0
    error = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"s3://{BUCKET}/{key}" in m and "NoSuchKey" in m for m in error), error
    inbound.put(key, raw_message())
    assert post(client, notification).status_code == 200  # SNS's retry.
    assert InboundEmail.objects.get().s3_key == key


def test_wrong_credentials_are_500_and_never_logged(client, inbound, settings, caplog):
    settings.SES_QUERY = {**settings.SES_QUERY, "SECRET_ACCESS_KEY": "not-the-secret-abcdef"}
    key = f"inbound/{message_id()}"
    inbound.put(key, raw_message())
    with caplog.at_level(logging.ERROR, "django_ses_query"):
        assert post(client, received(None, action="S3", key=key)).status_code == 500
    assert InboundEmail.objects.count() == 0
    assert "SignatureDoesNotMatch" in caplog.text
    assert "not-the-secret-abcdef" not in caplog.text


def test_client_side_encrypted_object_is_refused(client, inbound, caplog):
    key = f"inbound/{message_id()}"
    inbound.put(key, b"ciphertext", **{"x-amz-meta-x-amz-key-v2": "d3JhcHBlZA==",
                                       "x-amz-meta-x-amz-cek-alg": "AES/GCM/NoPadding"})
    with caplog.at_level(logging.ERROR, "django_ses_query"):
        assert post(client, received(None, action="S3", key=key)).status_code == 400
    assert InboundEmail.objects.count() == 0
    assert "client-side encrypted with KMS" in caplog.text and "remove the KMS key" in caplog.text
    assert inbound.exists(key)


def test_over_max_bytes_is_stored_from_the_notification(client, inbound, settings, signals_received,
                                                         django_capture_on_commit_callbacks):
    settings.SES_QUERY = {**settings.SES_QUERY, "INBOUND_MAX_BYTES": 100}
    key = f"inbound/{message_id()}"
    raw = raw_message(body=b"x" * 500)
    inbound.put(key, raw)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, received(None, action="S3", key=key)).status_code == 200
    [signal] = signals_received
    assert signal["raw"] is None and signal["message"]["Subject"] == "Re: your order"
    row = InboundEmail.objects.get()
    assert (row.subject, row.from_email, row.s3_key) == ("Re: your order", "Customer <customer@example.net>", key)
    assert row.text_body == "" and row.raw is None and row.size_bytes == len(raw)
    assert "over INBOUND_MAX_BYTES" in row.problems[0]


@pytest.fixture
def signals_received():
    from django_ses_query.signals import inbound_received

    got = []
    inbound_received.connect(lambda sender, **kw: got.append(kw), weak=False, dispatch_uid="moto")
    yield got
    inbound_received.disconnect(dispatch_uid="moto")


# -- ses_events -----------------------------------------------------------------------


def test_the_poller_stores_both_actions_and_deletes_them(inbound, signals_received,
                                                         django_capture_on_commit_callbacks):
    key = f"inbound/{message_id()}"
    inbound.put(key, raw_message(body=b"polled from S3\r\n"))
    s3_receipt = received(None, action="S3", key=key)
    sns_receipt = received(raw_message(body=b"polled from SNS\r\n"))
    inbound.send(json.dumps(envelope(message=s3_receipt, Timestamp=now())))
    inbound.send(json.dumps(sns_receipt))  # Raw message delivery.
    with django_capture_on_commit_callbacks(execute=True):
        output = poll()
    assert "from 2 message(s); 0 message(s) left" in output
    assert sorted(InboundEmail.objects.values_list("action", "text_body")) == [
        ("S3", "polled from S3\r\n"), ("SNS", "polled from SNS\r\n")]
    assert inbound.queue_length() == 0
    assert sorted(s["raw"] is not None for s in signals_received) == [True, True]


def test_the_poller_leaves_what_it_cannot_store(inbound, caplog):
    missing = received(None, action="S3", key=f"inbound/{message_id()}")
    encrypted_key = f"inbound/{message_id()}"
    inbound.put(encrypted_key, b"ciphertext", **{"x-amz-meta-x-amz-key-v2": "d3JhcHBlZA=="})
    encrypted = received(None, action="S3", key=encrypted_key)
    for notification in (missing, encrypted):
        inbound.send(json.dumps(envelope(message=notification, Timestamp=now())))
    with caplog.at_level(logging.WARNING, "django_ses_query"):
        output = poll()
    assert "2 message(s) left in the queue" in output
    assert InboundEmail.objects.count() == 0
    assert inbound.queue_length() == 2


def test_the_poller_checks_signatures_when_asked(inbound):
    genuine = received()
    inbound.send(json.dumps(envelope(message=genuine, Timestamp=now())))
    inbound.send(json.dumps(envelope(message=received(), Timestamp=now(), key=OTHER_KEY)))
    inbound.send(json.dumps(received()))  # Raw delivery: no signature to check.
    output = poll("--verify-signatures")
    assert "2 message(s) left in the queue" in output
    assert list(InboundEmail.objects.values_list("message_id", flat=True)) == [genuine["mail"]["messageId"]]


def test_ses_check_reads_the_rule_that_delivers_here(inbound, settings):
    """The active rule set as moto's SES describes it: its S3 action's topic
    is accepted, and a message it wrote under its prefix is stored."""
    from django.core.management.base import CommandError

    settings.SES_QUERY = {**settings.SES_QUERY, "ENDPOINT_URL": inbound.moto.endpoint_url,
                          "EVENT_TOPIC_ARNS": [inbound.topic_arn]}
    out = StringIO()
    try:
        call_command("ses_check", stdout=out, stderr=StringIO())
    except CommandError:
        pass  # Sending checks (no verified sender here); receiving is what is looked at.
    lines = [line for line in out.getvalue().splitlines() if "Receiving:" in line]
    assert lines[0].endswith("Active receipt rule set inbound.")
    assert (f"rule to-s3: recipients support@example.com; scanning on; actions: S3 (bucket {BUCKET}, "
            f"prefix inbound/; topic {inbound.topic_arn})") in lines[1]
    assert lines[2].startswith("[OK     ]") and "is in EVENT_TOPIC_ARNS" in lines[2]
    key = f"inbound/{message_id()}"
    inbound.put(key, raw_message(body=b"by the rule\r\n"))
    notification = received(None, action="S3", key=key, topic_arn=inbound.topic_arn)
    assert poll_envelope(inbound, notification, TopicArn=inbound.topic_arn) == "stored"
    assert InboundEmail.objects.get().text_body == "by the rule\r\n"


def poll_envelope(inbound, notification, **fields) -> str:
    inbound.send(json.dumps(envelope(message=notification, Timestamp=now(), **fields)))
    output = poll()
    return "stored" if "from 1 message(s); 0 message(s) left" in output else output
