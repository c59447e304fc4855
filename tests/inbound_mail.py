"""SES receiving notifications (``notificationType: "Received"``) as SES
publishes them, for tests. Field names and shapes follow the SES developer
guide's examples."""

from __future__ import annotations

import base64
import datetime
import uuid

from tests.snskeys import TOPIC_ARN


def message_id() -> str:
    return f"{uuid.uuid4().hex[:20]}{uuid.uuid4().hex[:20]}"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


SIMPLE = (
    b"From: Customer <customer@example.net>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: Re: your order\r\n"
    b"Message-ID: <reply-1@example.net>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Thanks!\r\n"
)


def raw_message(*, subject: str = "Re: your order", in_reply_to: str = "", references: str = "",
                body: bytes = b"Thanks!\r\n", extra: bytes = b"") -> bytes:
    headers = (
        b"From: Customer <customer@example.net>\r\nTo: support@example.com\r\n"
        + f"Subject: {subject}\r\nMessage-ID: <{uuid.uuid4().hex}@example.net>\r\n".encode()
    )
    if in_reply_to:
        headers += f"In-Reply-To: {in_reply_to}\r\n".encode()
    if references:
        headers += f"References: {references}\r\n".encode()
    return headers + extra + b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body


def received(raw: bytes | None = SIMPLE, *, action: str = "SNS", encoding: str = "BASE64",
             verdicts: dict | None = None, mid: str | None = None, bucket: str = "inbound-mail",
             key: str | None = None, topic_arn: str = TOPIC_ARN, dmarc_policy: str | None = None) -> dict:
    """A Received notification for ``raw`` (SNS action: with its content)."""
    mid = mid or message_id()
    statuses = {"spam": "PASS", "virus": "PASS", "spf": "PASS", "dkim": "PASS", "dmarc": "PASS"}
    statuses.update(verdicts or {})
    receipt = {
        "timestamp": now(),
        "processingTimeMillis": 420,
        "recipients": ["support@example.com"],
        **{f"{name}Verdict": {"status": status} for name, status in statuses.items()},
    }
    if dmarc_policy:
        receipt["dmarcPolicy"] = dmarc_policy
    if action == "SNS":
        receipt["action"] = {"type": "SNS", "topicArn": topic_arn, "encoding": encoding}
    else:
        receipt["action"] = {"type": "S3", "topicArn": topic_arn, "bucketName": bucket,
                             "objectKeyPrefix": "", "objectKey": key if key is not None else mid}
    notification = {
        "notificationType": "Received",
        "mail": {
            "timestamp": now(),
            "source": "bounces@example.net",
            "messageId": mid,
            "destination": ["support@example.com"],
            "headersTruncated": False,
            "headers": [
                {"name": "From", "value": "Customer <customer@example.net>"},
                {"name": "To", "value": "support@example.com"},
                {"name": "Subject", "value": "Re: your order"},
                {"name": "Message-ID", "value": "<reply-1@example.net>"},
            ],
            "commonHeaders": {
                "returnPath": "bounces@example.net",
                "from": ["Customer <customer@example.net>"],
                "to": ["support@example.com"],
                "messageId": "<reply-1@example.net>",
                "subject": "Re: your order",
            },
        },
        "receipt": receipt,
    }
    if action == "SNS" and raw is not None:
        notification["content"] = (
            base64.b64encode(raw).decode("ascii") if encoding == "BASE64" else raw.decode("utf-8")
        )
    return notification
