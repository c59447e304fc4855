"""``manage.py ses_events`` against moto's SQS and SNS, with moto checking
every request's SigV4 signature: SES → SNS → SQS → stored events."""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import signal

import pytest
import requests
from django.core.mail import EmailMessage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models.signals import post_save

from django_ses_query.events.sqs import region_of
from django_ses_query.transport.endpoint import Endpoint
from django_ses_query.models import EmailEvent, EmailLog, Suppression
from tests import sesevents
from tests.snskeys import CERT_PEM, CERT_URL, SNSAdapter, envelope

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases=["default", "sendlog"])]

SENDER = "sender@example.com"
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ses:*", "sqs:*", "sns:*"], "Resource": "*"}]})


def _xml(tag: str, text: str) -> str:
    return re.search(rf"<{tag}>([^<]*)</{tag}>", text).group(1)


class AWS:
    """moto's server with an IAM user allowed SES, SQS and SNS, a topic
    subscribed by a queue, and a second queue for raw messages."""

    def __init__(self) -> None:
        from tests.moto_ses import MotoSES

        self.moto = MotoSES().start()
        self.moto.verify_email_identity(SENDER)
        self.moto.set_auth(False)
        self.moto._checked({"Action": "CreateUser", "UserName": "events", "Version": "2010-05-08"}, service="iam")
        self.moto._checked({"Action": "PutUserPolicy", "UserName": "events", "PolicyName": "all",
                            "PolicyDocument": POLICY, "Version": "2010-05-08"}, service="iam")
        body = self.moto._checked({"Action": "CreateAccessKey", "UserName": "events", "Version": "2010-05-08"},
                                  service="iam")
        self.key, self.secret = _xml("AccessKeyId", body), _xml("SecretAccessKey", body)
        self.moto.set_auth(True)
        self.topic_arn = _xml("TopicArn", self.call("sns", {"Action": "CreateTopic", "Name": "ses-events",
                                                             "Version": "2010-03-31"}))
        self.queues = 0
        self.subscription = None

    def new_queue(self) -> None:
        """A fresh queue, the only one subscribed to the topic."""
        self.queues += 1
        name = f"ses-events-{self.queues}"
        self.queue_url = self.sqs("CreateQueue", QueueName=name)["QueueUrl"]
        if self.subscription:
            self.call("sns", {"Action": "Unsubscribe", "SubscriptionArn": self.subscription,
                              "Version": "2010-03-31"})
        self.subscription = _xml("SubscriptionArn", self.call("sns", {
            "Action": "Subscribe", "TopicArn": self.topic_arn, "Protocol": "sqs",
            "Endpoint": f"arn:aws:sqs:us-east-1:123456789012:{name}", "Version": "2010-03-31"}))

    def call(self, service: str, params: dict) -> str:
        response = self.moto.signed_post(params, service=service, access_key_id=self.key,
                                         secret_access_key=self.secret)
        assert response.status_code == 200, response.text
        return response.text

    def sqs(self, action: str, **params) -> dict:
        text = self.call("sqs", {"Action": action, "Version": "2012-11-05", **params})
        return {m.group(1): m.group(2) for m in re.finditer(r"<(\w+)>([^<]*)</\1>", text)}

    def publish(self, payload: dict) -> None:
        self.call("sns", {"Action": "Publish", "TopicArn": self.topic_arn, "Message": json.dumps(payload),
                          "Version": "2010-03-31"})

    def send_raw(self, body: str) -> None:
        self.sqs("SendMessage", QueueUrl=self.queue_url, MessageBody=body)

    def queue_length(self) -> int:
        attributes = self.call("sqs", {"Action": "GetQueueAttributes", "QueueUrl": self.queue_url,
                                       "AttributeName.1": "All", "Version": "2012-11-05"})
        names = re.findall(r"<Name>(\w+)</Name>\s*<Value>(\d+)</Value>", attributes)
        values = dict(names)
        return int(values["ApproximateNumberOfMessages"]) + int(values["ApproximateNumberOfMessagesNotVisible"])



@pytest.fixture(scope="module")
def aws():
    aws = AWS()
    yield aws
    aws.moto.stop()


@pytest.fixture
def events(aws, settings):
    aws.new_queue()
    settings.SES_QUERY = {
        **settings.SES_QUERY,
        "ACCESS_KEY_ID": aws.key, "SECRET_ACCESS_KEY": aws.secret,
        "ENDPOINT_URL": aws.moto.endpoint_url, "EVENT_TOPIC_ARNS": [aws.topic_arn],
        "EVENT_QUEUE_URL": aws.queue_url,
    }
    yield aws


def send(to: list[str]) -> EmailLog:
    from django_ses_query.backend import EmailBackend

    assert EmailBackend().send_messages([EmailMessage("Hi", "Body", SENDER, to)]) == 1
    return EmailLog.objects.latest("id")


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("ses_events", *args, stdout=out)
    return out.getvalue()


def test_region_from_queue_url():
    assert region_of("https://sqs.eu-west-1.amazonaws.com/1/q", "us-east-1") == "eu-west-1"
    assert region_of("https://ap-south-1.queue.amazonaws.com/1/q", "us-east-1") == "ap-south-1"
    assert region_of("http://127.0.0.1:4566/1/q", "us-east-2") == "us-east-2"


def test_sns_envelopes_are_stored_and_deleted(events):
    log = send(["a@example.net", "b@example.net"])
    events.publish(sesevents.delivery(log.message_id, "a@example.net"))
    events.publish(sesevents.bounce(log.message_id, "b@example.net"))
    assert events.queue_length() == 2
    output = run("--once")
    assert "Stored 2 event(s) from 2 message(s); 0 message(s) left" in output
    log.refresh_from_db()
    assert log.outcome == "bounced"
    assert sorted(log.events.values_list("event_type", "recipient")) == [
        ("bounce", "b@example.net"), ("delivery", "a@example.net"),
    ]
    assert Suppression.objects.get().address == "b@example.net"
    assert events.queue_length() == 0


def test_raw_delivery_json_is_stored(events):
    log = send(["c@example.net"])
    events.send_raw(json.dumps(sesevents.complaint(log.message_id, "c@example.net")))
    run("--once", "--queue-url", events.queue_url, "--max-messages", "1")
    log.refresh_from_db()
    assert log.outcome == "complained"
    assert events.queue_length() == 0


def test_same_message_twice_is_stored_once(events):
    log = send(["d@example.net"])
    body = json.dumps({**envelope(message=sesevents.delivery(log.message_id, "d@example.net")),
                       "TopicArn": events.topic_arn})
    events.send_raw(body)
    events.send_raw(body)
    output = run("--once")
    assert "Stored 1 event(s) from 2 message(s)" in output
    assert EmailEvent.objects.count() == 1
    assert events.queue_length() == 0


def test_malformed_and_foreign_messages_are_left_for_redrive(events, caplog):
    log = send(["e@example.net"])
    events.send_raw("not json")
    events.send_raw(json.dumps({"eventType": "Nope"}))
    events.send_raw(json.dumps({**envelope(message=sesevents.delivery(log.message_id, "e@example.net")),
                                "TopicArn": "arn:aws:sns:us-east-1:999999999999:foreign"}))
    events.publish(sesevents.delivery(log.message_id, "e@example.net"))
    with caplog.at_level(logging.WARNING, "django_ses_query"):
        output = run("--once")
    assert "Stored 1 event(s) from 1 message(s); 3 message(s) left" in output
    assert events.queue_length() == 3
    left = [r.getMessage() for r in caplog.records if "left in the queue" in r.getMessage()]
    assert len(left) == 3
    assert any("EVENT_TOPIC_ARNS" in m for m in left)


@pytest.fixture
def certificates_served(events, monkeypatch, sns_ca_bundle):
    """The certificates the envelopes name, served through a transport
    adapter: ours (tests/snskeys.py, issued by the test CA in
    REQUESTS_CA_BUNDLE), and moto's, which moto serves itself."""
    from django_ses_query.events import certificates, fetch

    moto_url = events.moto.endpoint_url

    class MotoCertificates(SNSAdapter):
        def send(self, request, **kwargs):
            if request.url not in self.routes:
                # moto serves its certificates with its checks off, to a
                # request that names the sns service in a credential scope.
                path = request.url.split("amazonaws.com", 1)[1]
                scope = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/sns/aws4_request, " \
                    "SignedHeaders=host, Signature=0"
                events.moto.set_auth(False)
                try:
                    answer = requests.get(moto_url + path, headers={"Authorization": scope}, timeout=10)
                finally:
                    events.moto.set_auth(True)
                self.routes[request.url] = (answer.status_code, answer.content)
            return super().send(request, **kwargs)

    adapter = MotoCertificates({CERT_URL: (200, CERT_PEM)})
    original = Endpoint.open

    def open_with_moto_certificates(self):
        new = original(self)
        self.session.mount("https://sns.", adapter)
        return new

    monkeypatch.setattr(Endpoint, "open", open_with_moto_certificates)
    certificates.clear_cache()
    yield adapter
    certificates.clear_cache()


def test_verify_signatures_checks_envelopes_and_refuses_raw(events, certificates_served, caplog):
    """moto signs SNS → SQS envelopes (v2) with a certificate it makes up: no
    subjectAltName, no chain to any root; refused like any other."""
    log = send(["f@example.net"])
    events.publish(sesevents.delivery(log.message_id, "f@example.net"))  # Signed by moto.
    ours = envelope(message=sesevents.bounce(log.message_id, "f@example.net"), TopicArn=events.topic_arn)
    events.send_raw(json.dumps(ours))  # Signed by our test key.
    forged = {**ours, "MessageId": "forged", "Message": json.dumps(sesevents.complaint(log.message_id, "f@example.net"))}
    events.send_raw(json.dumps(forged))
    events.send_raw(json.dumps(sesevents.complaint(log.message_id, "f@example.net")))  # Raw: no signature.
    with caplog.at_level(logging.WARNING, "django_ses_query"):
        output = run("--once", "--verify-signatures")
    assert "Stored 1 event(s) from 1 message(s); 3 message(s) left" in output
    log.refresh_from_db()
    assert log.outcome == "bounced"
    assert not Suppression.objects.filter(reason="complaint").exists()
    assert any("signature does not match" in r.getMessage() for r in caplog.records)
    assert any("raw-delivery" in r.getMessage() for r in caplog.records)
    assert any("subjectAltName" in r.getMessage() for r in caplog.records)
    assert len([u for u in (r.url for r in certificates_served.requests) if "SimpleNotificationService" in u]) == 2


def test_old_and_malformed_envelopes_are_refused_like_the_webhook(events, settings, caplog):
    """The webhook's rules: EVENT_MAX_AGE_DAYS, JSON nesting, control
    characters; one WARNING line each, no traceback, nothing stored."""
    from tests.snskeys import now, timestamp

    log = send(["h@example.net"])
    old = envelope(message=sesevents.complaint(log.message_id, "h@example.net"), TopicArn=events.topic_arn,
                   Timestamp=timestamp(now() - datetime.timedelta(days=15)))
    events.send_raw(json.dumps(old))
    events.send_raw("[" * 100_000 + "]" * 100_000)
    events.send_raw(json.dumps(envelope(message="[" * 100_000 + "]" * 100_000, TopicArn=events.topic_arn)))
    events.send_raw(json.dumps(envelope(message=sesevents.delivery(log.message_id, "h@example.net"),
                                        TopicArn=events.topic_arn, MessageId="x\nCRITICAL forged")))
    with caplog.at_level(logging.INFO, "django_ses_query"):
        output = run("--once")
    assert "Stored 0 event(s) from 0 message(s); 4 message(s) left" in output
    left = [r for r in caplog.records if "left in the queue" in r.getMessage()]
    assert len(left) == 4
    assert all(r.levelno == logging.WARNING and not r.exc_info for r in left)
    assert all(len(r.getMessage().splitlines()) == 1 for r in caplog.records)
    assert any("EVENT_MAX_AGE_DAYS" in r.getMessage() for r in left)
    assert not EmailEvent.objects.exists()
    log.refresh_from_db()
    assert log.outcome == ""


def test_min_signature_version_applies_to_verify_signatures(events, certificates_served, settings, caplog):
    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_MIN_SIGNATURE_VERSION": 2}
    log = send(["i@example.net"])
    for version, recipient in (("1", "i@example.net"), ("2", "i@example.net")):
        events.send_raw(json.dumps(envelope(
            version=version, message=sesevents.delivery(log.message_id, recipient), TopicArn=events.topic_arn)))
    with caplog.at_level(logging.WARNING, "django_ses_query"):
        output = run("--once", "--verify-signatures")
    assert "Stored 1 event(s) from 1 message(s); 1 message(s) left" in output
    [refused] = [r.getMessage() for r in caplog.records if "left in the queue" in r.getMessage()]
    assert events.topic_arn in refused and "SignatureVersion attribute to 2" in refused


def test_long_poll_stops_cleanly_on_sigterm(events):
    """Without --once it polls until SIGTERM; the batch in hand is finished."""
    log = send(["g@example.net"])
    events.publish(sesevents.delivery(log.message_id, "g@example.net"))

    def stop(sender, instance, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    # The row is saved inside the batch: the stop comes in the middle of it.
    post_save.connect(stop, sender=EmailEvent, weak=False, dispatch_uid="stop")
    try:
        output = run("--wait", "1")
    finally:
        post_save.disconnect(sender=EmailEvent, dispatch_uid="stop")
    assert "Stored 1 event(s) from 1 message(s)" in output
    assert signal.getsignal(signal.SIGTERM) is before
    assert events.queue_length() == 0


def test_wrong_credentials_fail_with_the_sqs_error(events, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "SECRET_ACCESS_KEY": "wrong-secret"}
    with pytest.raises(CommandError, match="SignatureDoesNotMatch"):
        run("--once")


@pytest.mark.parametrize(
    "args, problem",
    [(["--wait", "21"], "--wait"), (["--max-messages", "0"], "--max-messages"),
     (["--max-messages", "11"], "--max-messages"), (["--queue-url", "ftp://x/q"], "http")],
)
def test_bad_arguments(events, args, problem):
    with pytest.raises(CommandError, match=problem):
        run("--once", *args)


def test_no_queue(settings):
    settings.SES_QUERY = {k: v for k, v in settings.SES_QUERY.items() if k != "EVENT_QUEUE_URL"}
    with pytest.raises(CommandError, match="EVENT_QUEUE_URL"):
        run("--once")
