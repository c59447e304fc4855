"""A received message → an ``InboundEmail`` row, linked to the sent
message it answers, and the ``inbound_received`` signal once committed.

Trusts its input (read by ``receipt`` and ``parse``) to be values, not to
be storable: every text and JSON value is made to fit the database first
(``storable.fit_fields``: NUL removed, lone surrogates replaced, text cut to
its column), each change noted in ``problems`` and logged at WARNING.
Stored once per SES MessageId (the unique ``message_id``): a copy stored
meanwhile by another process stores nothing. Written to ``LOG_DATABASE``.
"""

from __future__ import annotations

import logging
import re
from email.message import EmailMessage
from functools import partial

from django.db import IntegrityError, transaction

from ..models import EmailLog
from ..signals import inbound_received
from ..storable import fit_fields
from .models import InboundEmail
from .parse import Parsed
from .receipt import Receipt

logger = logging.getLogger("django_ses_query")

#: The Message-ID SES gives what it sends: ``<MessageId@email.amazonses.com>``
#: (us-east-1) or ``<MessageId@REGION.amazonses.com>``.
SES_MESSAGE_ID = re.compile(r"([^@\s]{1,128})@(?:email|[a-z]{2}(?:-[a-z0-9]+)+-\d)\.amazonses\.com\Z", re.IGNORECASE)
#: Message-IDs of a reply looked up in the send log, at most.
MAX_CANDIDATES = 50


def stored_before(message_id: str, using: str) -> bool:
    return InboundEmail.objects.using(using).filter(message_id=message_id).exists()


def candidates(in_reply_to: list[str], references: list[str]) -> list[str]:
    """SES MessageIds a reply may answer, the likeliest first: In-Reply-To,
    then References from last to first."""
    found: list[str] = []
    for value in [*in_reply_to, *reversed(references)]:
        match = SES_MESSAGE_ID.match(value.strip())
        if match and match.group(1) not in found:
            found.append(match.group(1))
            if len(found) >= MAX_CANDIDATES:
                break
    return found


def linked_log(parsed: Parsed, using: str) -> EmailLog | None:
    ids = candidates(parsed.in_reply_to, parsed.references)
    if not ids:
        return None
    rows = {}
    for row in EmailLog.objects.using(using).filter(message_id__in=ids).order_by("-id").only("id", "message_id"):
        rows[row.message_id] = row  # The first sent with that id wins.
    return next((rows[i] for i in ids if i in rows), None)


def store(
    receipt: Receipt, parsed: Parsed, raw: bytes | None, *, size: int | None, keep_raw: bool,
    sns_message_id: str, topic_arn: str | None, using: str,
):
    """The new row, or None when this message was stored before."""
    model = InboundEmail
    fields = {
        "message_id": receipt.message_id,
        "received_at": receipt.received_at,
        "source": receipt.source,
        "recipients": receipt.recipients,
        "from_email": parsed.from_email,
        "to": parsed.to,
        "cc": parsed.cc,
        "reply_to": parsed.reply_to,
        "subject": parsed.subject,
        "message_id_header": parsed.message_id_header,
        "in_reply_to": " ".join(parsed.in_reply_to),
        "references": " ".join(parsed.references),
        "text_body": parsed.text_body,
        "html_body": parsed.html_body,
        "attachments": parsed.attachments,
        "spam_verdict": receipt.verdicts.get("spam", ""),
        "virus_verdict": receipt.verdicts.get("virus", ""),
        "spf_verdict": receipt.verdicts.get("spf", ""),
        "dkim_verdict": receipt.verdicts.get("dkim", ""),
        "dmarc_verdict": receipt.verdicts.get("dmarc", ""),
        "dmarc_policy": receipt.dmarc_policy,
        "action": receipt.action,
        "topic_arn": receipt.topic_arn or topic_arn or "",
        "s3_bucket": receipt.bucket,
        "s3_key": receipt.key,
        "headers": parsed.headers,
        "receipt": receipt.stored,
        "sns_message_id": sns_message_id,
    }
    notes = fit_fields(model, fields)
    problems = {"problems": [*parsed.problems, *notes]}
    fit_fields(model, problems)
    if notes:
        logger.warning(
            "Received message %s (SNS MessageId %s) was changed to fit the database: %s.",
            receipt.message_id, sns_message_id or "-", "; ".join(notes),
        )
    try:
        with transaction.atomic(using=using):
            if model.objects.using(using).filter(message_id=receipt.message_id).exists():
                return None
            row = model.objects.using(using).create(
                **fields, **problems, size_bytes=size, raw=raw if keep_raw else None,
                log=linked_log(parsed, using),
            )
            transaction.on_commit(
                partial(_send_signal, row, parsed.message, receipt.stored, raw), using=using,
            )
    except IntegrityError:
        # Stored by another copy between our check and our insert.
        if stored_before(receipt.message_id, using):
            return None
        raise
    return row


def _send_signal(row, message: EmailMessage, receipt: dict, raw: bytes | None) -> None:
    answers = inbound_received.send_robust(
        sender=type(row), inbound=row, message=message, receipt=receipt, raw=raw,
    )
    for receiver, answer in answers:
        if isinstance(answer, Exception):
            logger.error(
                "An inbound_received receiver (%s) failed for received message %s.",
                getattr(receiver, "__qualname__", receiver), row.message_id,
                exc_info=(type(answer), answer, answer.__traceback__),
            )
