"""The SES events half of the demo: SES → SNS → SQS → ``ses_events``.

``setup(ses)`` (in the process that holds moto's server): allows the demo's
IAM user SNS and SQS too, creates the topic ``ses-events`` and the queue
``ses-events`` subscribed to it, and returns their ARN and URL for the
settings.

``run(sent_logs)`` (in the Django process): publishes to the topic, for the
messages just sent, the events SES would publish (deliveries, a permanent
bounce, a complaint); SNS delivers them to the queue; ``manage.py ses_events
--once`` stores them. It prints the events and outcomes, then sends twice
more with ``SUPPRESSION`` on, and returns its checks.

Why the demo publishes the events itself: moto 5.2.5's SES does publish
feedback to a topic set with ``SetIdentityNotificationTopic`` for
simulator-like addresses, but always with the same placeholder
``mail.messageId``, a ``notificationType`` of "Bounce, Complaint, or
Delivery." and the ``Message`` as a JSON object rather than a string, so it
cannot be matched to a sent message. Everything after SES (SNS's envelope,
SQS, the poller, signed with moto's checks on) is the real path.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

ACCOUNT = "123456789012"
NAME = "ses-events"
EVENTS_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["sns:*", "sqs:*"], "Resource": "*"}],
    }
)


def _post(ses, service: str, params: dict) -> str:
    response = ses.signed_post(params, service=service)
    if response.status_code != 200:
        raise RuntimeError(f"{service} {params['Action']}: HTTP {response.status_code}: {response.text[:500]}")
    return response.text


def _between(tag: str, text: str) -> str:
    return text.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]


def setup(ses) -> dict[str, str]:
    """Topic and queue in moto; the IAM user may now use them."""
    from tests.moto_ses import USER_NAME

    ses.set_auth(False)  # IAM itself: the user may only use SES so far.
    try:
        _post(ses, "iam", {"Action": "PutUserPolicy", "UserName": USER_NAME, "PolicyName": "ses-events",
                           "PolicyDocument": EVENTS_POLICY, "Version": "2010-05-08"})
    finally:
        ses.set_auth(True)
    topic_arn = _between("TopicArn", _post(ses, "sns", {"Action": "CreateTopic", "Name": NAME,
                                                          "Version": "2010-03-31"}))
    queue_url = _between("QueueUrl", _post(ses, "sqs", {"Action": "CreateQueue", "QueueName": NAME,
                                                         "Version": "2012-11-05"}))
    _post(ses, "sns", {"Action": "Subscribe", "TopicArn": topic_arn, "Protocol": "sqs",
                       "Endpoint": f"arn:aws:sqs:{ses.region}:{ACCOUNT}:{NAME}", "Version": "2010-03-31"})
    return {"SES_DEMO_TOPIC_ARN": topic_arn, "SES_DEMO_QUEUE_URL": queue_url}


def _ses_event(kind: str, log, recipients: list[str], **details) -> dict:
    """An SES configuration-set event, as SES publishes it."""
    key = {"Delivery": "delivery", "Bounce": "bounce", "Complaint": "complaint"}[kind]
    mail = {"timestamp": log.created_at.isoformat().replace("+00:00", "Z"), "messageId": log.message_id,
            "source": log.from_email, "destination": log.recipients}
    if kind == "Delivery":
        body = {"recipients": recipients, "smtpResponse": "250 2.0.0 OK"}
    elif kind == "Bounce":
        body = {"bouncedRecipients": [{"emailAddress": r, "diagnosticCode": "smtp; 550 5.1.1 user unknown"}
                                      for r in recipients], "bounceType": "Permanent", "bounceSubType": "General"}
    else:
        body = {"complainedRecipients": [{"emailAddress": r} for r in recipients],
                "complaintFeedbackType": "abuse"}
    body["timestamp"] = mail["timestamp"]
    return {"eventType": kind, "mail": mail, key: {**body, **details}}


def _publish(topic_arn: str, payload: dict) -> None:
    import requests
    from django.conf import settings

    from django_ses_query.credentials import Credentials
    from django_ses_query.query import CONTENT_TYPE
    from django_ses_query.signing import sign

    config = settings.SES_QUERY
    url = config["ENDPOINT_URL"].rstrip("/") + "/"
    body = urlencode({"Action": "Publish", "TopicArn": topic_arn, "Message": json.dumps(payload),
                      "Subject": "Amazon SES Email Event Notification", "Version": "2010-03-31"}).encode()
    headers = sign(method="POST", url=url, headers={"Content-Type": CONTENT_TYPE}, body=body,
                   credentials=Credentials(config["ACCESS_KEY_ID"], config["SECRET_ACCESS_KEY"]),
                   region=config["REGION"], service="sns")
    with requests.Session() as session:
        session.trust_env = False  # moto is on this machine.
        response = session.post(url, data=body, headers=headers, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"SNS Publish: HTTP {response.status_code}: {response.text[:300]}")


def run(sent_logs, table) -> list[tuple[str, bool]]:
    from io import StringIO

    from django.conf import settings
    from django.core import mail
    from django.core.management import call_command

    from django_ses_query.backend import EmailBackend
    from django_ses_query.models import EmailEvent, EmailLog, Suppression

    topic_arn = settings.SES_QUERY["EVENT_TOPIC_ARNS"][0]
    plain, html, raw = sorted(sent_logs, key=lambda log: log.pk)
    print("\nSES events: publishing what SES would report for these messages to SNS "
          f"({topic_arn}); SNS delivers them to SQS")
    published = [
        _ses_event("Delivery", plain, ["alice@example.net"]),
        _ses_event("Delivery", html, ["bob@example.net"]),
        _ses_event("Bounce", html, ["carol@example.net"]),
        _ses_event("Delivery", raw, ["dave@example.net", "archive@example.com"]),
        _ses_event("Complaint", raw, ["dave@example.net"]),
    ]
    for payload in published:
        _publish(topic_arn, payload)
    out = StringIO()
    call_command("ses_events", "--once", stdout=out)
    print(f"  manage.py ses_events --once: {out.getvalue().strip()}")
    # Again: nothing left, nothing stored twice.
    out = StringIO()
    call_command("ses_events", "--once", stdout=out)
    print(f"  again:                       {out.getvalue().strip()}")

    events = list(EmailEvent.objects.select_related("log").order_by("log_id", "id"))
    print(table(
        ["log", "event", "recipient", "detail"],
        [[f"#{e.log_id}", e.event_type, e.recipient,
          " ".join(filter(None, [e.bounce_type, e.feedback_type, e.diagnostic]))[:40]] for e in events],
    ))
    logs = list(EmailLog.objects.filter(pk__in=[plain.pk, html.pk, raw.pk]).order_by("pk"))
    print(table(["log", "subject", "outcome"], [[f"#{log.pk}", log.subject[:40], log.outcome] for log in logs]))
    suppressed = dict(Suppression.objects.values_list("address", "reason"))
    print(f"  Suppression list: {', '.join(f'{a} ({r})' for a, r in sorted(suppressed.items()))}")

    print("\nSending with SUPPRESSION on:")
    backend = EmailBackend()
    partly = mail.EmailMessage("Team news", "Hello all.\n", plain.from_email,
                               ["carol@example.net", "frank@example.net"])
    nobody = mail.EmailMessage("For Dave", "Hello Dave.\n", plain.from_email, ["dave@example.net"])
    sent = backend.send_messages([partly, nobody])
    partly_log = EmailLog.objects.get(pk=partly.ses_log.pk)
    nobody_log = EmailLog.objects.get(pk=nobody.ses_log.pk)
    print(f"  to carol + frank -> {partly_log.status}, suppressed: {', '.join(partly_log.suppressed)}")
    print(f"  to dave only     -> {nobody_log.status} (not sent); {sent} of 2 counted as sent")

    outcomes = [log.outcome for log in logs]
    return [
        ("6 events stored (one per recipient named)", len(events) == 6),
        ("each linked to its log row", all(e.log_id for e in events)),
        ("outcomes: delivered, bounced, complained", outcomes == ["delivered", "bounced", "complained"]),
        ("carol (bounce) and dave (complaint) suppressed",
         suppressed == {"carol@example.net": "bounce", "dave@example.net": "complaint"}),
        ("suppressed recipient left out, message sent", partly_log.status == "sent"
         and partly_log.suppressed == ["carol@example.net"]),
        ("message with only suppressed recipients not sent", nobody_log.status == "suppressed" and sent == 1),
    ]
