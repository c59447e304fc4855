"""An SES receiving notification (``notificationType: "Received"``) read
into plain values.

Trusts the notification to come from SES (the receiver checked the SNS
signature and topic, or trusts its queue), not to be well formed. Checks
that ``mail`` and ``receipt`` are objects, that ``mail.messageId`` is a
short printable string, that the action is ``SNS`` (with ``content``) or
``S3`` (with ``bucketName`` and ``objectKey``); anything else is
:class:`MalformedReceipt`. Every other field is read with a default and a
type check. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..storable import timestamp
from .parse import decode_base64

RECEIVED = "Received"
MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,128}\Z")
#: S3's bucket naming rules: 3 to 63 lower-case letters, digits, dots and
#: hyphens, starting and ending with a letter or digit.
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
REGION = re.compile(r"[a-z]{2}(?:-[a-z0-9]+)+-\d\Z")
VERDICTS = ("spam", "virus", "spf", "dkim", "dmarc")


class MalformedReceipt(ValueError):
    """Not a receiving notification we can store (the webhook answers 400)."""


@dataclass
class Receipt:
    message_id: str
    action: str  # "SNS" or "S3"
    received_at: datetime | None = None
    source: str = ""
    recipients: list[str] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)  # "spam" → "PASS"...
    dmarc_policy: str = ""
    topic_arn: str = ""
    encoding: str = ""
    bucket: str = ""
    key: str = ""
    content: str | None = None
    common_headers: dict[str, Any] = field(default_factory=dict)
    #: The notification without ``content``: what the row keeps.
    stored: dict[str, Any] = field(default_factory=dict)

    def raw_content(self) -> tuple[bytes, list[str]]:
        """The SNS action's message as bytes, and the problems met."""
        text = self.content or ""
        if self.encoding.upper() == "BASE64":
            data, broken = decode_base64(text.encode("ascii", "replace"))
            return data, ["the notification's base64 content is broken; decoded as far as it goes"] if broken else []
        # UTF8: SES decoded the message as UTF-8; encoded back, it is the
        # original wherever the original was UTF-8 (BASE64 keeps every byte).
        return text.encode("utf-8", "surrogatepass"), []

    def region(self, default: str) -> str:
        """The region of the action's topic ARN, else ``default``."""
        parts = self.topic_arn.split(":")
        if len(parts) >= 6 and parts[0] == "arn" and REGION.match(parts[3]):
            return parts[3]
        return default


def is_receipt(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("notificationType") == RECEIVED


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _texts(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _status(value: Any) -> str:
    return _text(value.get("status")) if isinstance(value, dict) else ""


def read_receipt(payload: Any) -> Receipt:
    """The :class:`Receipt` in a ``Received`` notification."""
    if not is_receipt(payload):
        raise MalformedReceipt("not a Received notification")
    mail, receipt = payload.get("mail"), payload.get("receipt")
    if not isinstance(mail, dict) or not isinstance(receipt, dict):
        raise MalformedReceipt("the notification has no mail or receipt object")
    message_id = mail.get("messageId")
    if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
        raise MalformedReceipt("mail.messageId is missing or not an SES MessageId")
    action = receipt.get("action")
    if not isinstance(action, dict) or action.get("type") not in ("SNS", "S3"):
        raise MalformedReceipt("receipt.action is not an SNS or S3 action")
    found = Receipt(message_id=message_id, action=action["type"])
    found.received_at = timestamp(receipt.get("timestamp")) or timestamp(mail.get("timestamp"))
    found.source = _text(mail.get("source"))
    found.recipients = _texts(receipt.get("recipients")) or _texts(mail.get("destination"))
    found.verdicts = {name: _status(receipt.get(f"{name}Verdict")) for name in VERDICTS}
    found.dmarc_policy = _text(receipt.get("dmarcPolicy"))
    found.topic_arn = _text(action.get("topicArn"))
    common = mail.get("commonHeaders")
    found.common_headers = common if isinstance(common, dict) else {}
    if found.action == "SNS":
        found.encoding = _text(action.get("encoding")) or "UTF8"
        if found.encoding.upper() not in ("UTF8", "BASE64"):
            raise MalformedReceipt(f"unknown SNS action encoding {found.encoding[:20]!r}")
        content = payload.get("content")
        if not isinstance(content, str):
            raise MalformedReceipt("an SNS action's notification has no content")
        found.content = content
    else:
        found.bucket, found.key = _text(action.get("bucketName")), _text(action.get("objectKey"))
        if not found.bucket or not found.key:
            raise MalformedReceipt("an S3 action without bucketName or objectKey")
        # They become the URL fetched (with our signature): S3's own rules.
        if not BUCKET.match(found.bucket) or ".." in found.bucket:
            raise MalformedReceipt("the S3 action's bucketName is not an S3 bucket name")
        if len(found.key.encode("utf-8")) > 1024 or any(ord(c) < 32 or ord(c) == 127 for c in found.key):
            raise MalformedReceipt("the S3 action's objectKey is not an S3 object key")
    found.stored = {name: value for name, value in payload.items() if name != "content"}
    return found


def notification_headers(receipt: Receipt) -> list[tuple[str, str]]:
    """The message's headers as the notification lists them (``mail.headers``,
    which SES may truncate), else rebuilt from ``mail.commonHeaders``."""
    mail = receipt.stored.get("mail", {})
    listed = mail.get("headers") if isinstance(mail, dict) else None
    pairs = []
    if isinstance(listed, list):
        for item in listed[:1000]:
            if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("value"), str):
                pairs.append((item["name"], item["value"]))
    if pairs:
        return pairs
    common = receipt.common_headers
    for name, header in (
        ("from", "From"), ("to", "To"), ("cc", "Cc"), ("replyTo", "Reply-To"),
        ("subject", "Subject"), ("messageId", "Message-ID"), ("date", "Date"),
    ):
        value = common.get(name)
        if isinstance(value, list):
            value = ", ".join(v for v in value if isinstance(v, str))
        if isinstance(value, str) and value:
            pairs.append((header, value))
    return pairs
