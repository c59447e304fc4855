"""A verified ``Received`` notification → a stored ``InboundEmail``.

Trusts that the receiver checked the notification's origin (the webhook:
basic auth, SNS signature and topic; the poller: its queue, and signatures
with ``--verify-signatures``); checks everything else through ``receipt``,
``parse`` and ``s3``. Answers with a :class:`~django_ses_query.handoff.Handled`:

* 200: stored, stored before, or discarded (``INBOUND_DISCARD_ON_FAIL``);
* 400: never storable (not a receipt we can read, a client-side encrypted
  object): SNS gives up, the poller leaves it for the dead-letter queue;
* 500: try again (the object could not be read now, a database error).
"""

from __future__ import annotations

import logging

from ..conf import get_config
from ..handoff import Handled
from ..logsafe import escaped
from .parse import parse_headers, parse_message
from .receipt import MalformedReceipt, notification_headers, read_receipt
from .store import store, stored_before

logger = logging.getLogger("django_ses_query")


def receive_notification(payload: dict, sns_message_id: str, topic_arn: str | None) -> Handled:
    """Store the message of a ``Received`` notification (see the module)."""
    try:
        receipt = read_receipt(payload)
    except MalformedReceipt as error:
        logger.warning("SES receiving: notification %s refused: %s", escaped(sns_message_id or "-"), escaped(error))
        return Handled(400, f"Not a receipt that can be stored: {error}")
    try:
        config = get_config()
        using = config.log_database
        if stored_before(receipt.message_id, using):
            logger.info("SES receiving: message %s was stored before: ignored.", escaped(receipt.message_id))
            return Handled(200, "Stored before.")
        failed = [kind for kind in config.inbound_discard_on_fail if receipt.verdicts.get(kind) == "FAIL"]
        if failed:
            logger.info(
                "SES receiving: message %s from %s discarded: %s verdict FAIL (INBOUND_DISCARD_ON_FAIL).",
                escaped(receipt.message_id), escaped(receipt.source or "-"), " and ".join(failed),
            )
            return Handled(200, "Discarded.")
        problems: list[str] = []
        raw: bytes | None
        if receipt.action == "SNS":
            raw, problems = receipt.raw_content()
            size = len(raw)
        else:
            from .s3 import ClientSideEncrypted, ObjectUnavailable, fetch

            try:
                found = fetch(config, receipt.bucket, receipt.key, receipt.region(config.region),
                              config.inbound_max_bytes)
            except ClientSideEncrypted as error:
                logger.error("SES receiving: message %s not stored: %s.", escaped(receipt.message_id), escaped(error))
                return Handled(400, "The S3 object is client-side encrypted; not stored.")
            except ObjectUnavailable as error:
                logger.error("SES receiving: message %s not stored now: %s.", escaped(receipt.message_id), escaped(error))
                return Handled(500, "Could not read the S3 object; try again.")
            raw, size = found.data, found.size
            if raw is None:
                length = f"{size} bytes, " if size is not None else ""
                problems.append(
                    f"the message is {length}over INBOUND_MAX_BYTES ({config.inbound_max_bytes}): "
                    "not downloaded; stored from the notification"
                )
        if raw is not None and len(raw) > config.inbound_max_bytes:
            problems.append(
                f"the message is {len(raw)} bytes, over INBOUND_MAX_BYTES ({config.inbound_max_bytes}): "
                "stored from the notification"
            )
            raw = None
        parsed = parse_message(raw) if raw is not None else parse_headers(notification_headers(receipt))
        parsed.problems[:0] = problems
        row = store(
            receipt, parsed, raw, size=size, keep_raw=config.inbound_store_raw,
            sns_message_id=sns_message_id, topic_arn=topic_arn, using=using,
        )
    except Exception:
        logger.exception("SES receiving: could not store message %s.", escaped(receipt.message_id))
        return Handled(500, "Could not store the message; try again.")
    if row is None:
        logger.info("SES receiving: message %s was stored before: ignored.", escaped(receipt.message_id))
        return Handled(200, "Stored before.")
    logger.info(
        "SES receiving: stored message %s from %s (%s action%s%s).", escaped(receipt.message_id),
        escaped(receipt.source or "-"), receipt.action, ", linked to a sent message" if row.log_id else "",
        f", {len(row.problems)} problem(s) noted" if row.problems else "",
    )
    return Handled(200, "Stored 1 received message.", stored=1)
