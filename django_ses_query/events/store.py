"""Event rows → the database: ``EmailEvent`` rows, the log's outcome,
suppressed addresses, and the ``ses_event`` signal.

Trusts its input (parsed by ``parse`` from a verified or queued message)
to be events, not to be storable: every row is made to fit the database
first (``parse.fit_rows``), and what was changed is logged at WARNING with
the SNS MessageId. Idempotent by the SNS MessageId (the SQS MessageId of a
raw delivery): the same notification again stores nothing. Written to
``LOG_DATABASE``, where the send log is.
"""

from __future__ import annotations

import logging
from email.utils import parseaddr
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction

from ..conf import get_config
from ..logsafe import escaped
from ..models import EmailEvent, EmailLog, Suppression, normalize_address
from ..signals import ses_event
from ..storable import fit_fields
from .parse import fit_rows, read_event

logger = logging.getLogger("django_ses_query")

Outcome = EmailLog.Outcome

#: The outcome each event type points to, and the order of precedence
#: (worst last): an outcome is never replaced by one before it.
OUTCOMES = {
    EmailEvent.Type.DELIVERY_DELAY: Outcome.DELAYED,
    EmailEvent.Type.DELIVERY: Outcome.DELIVERED,
    EmailEvent.Type.RENDERING_FAILURE: Outcome.RENDERING_FAILED,
    EmailEvent.Type.REJECT: Outcome.REJECTED,
    EmailEvent.Type.BOUNCE: Outcome.BOUNCED,
    EmailEvent.Type.COMPLAINT: Outcome.COMPLAINED,
}
PRECEDENCE = [
    Outcome.NONE, Outcome.DELAYED, Outcome.DELIVERED, Outcome.RENDERING_FAILED, Outcome.REJECTED,
    Outcome.BOUNCED, Outcome.COMPLAINED,
]


def worst(outcomes) -> str:
    return max(outcomes, key=PRECEDENCE.index, default=Outcome.NONE)


def store_payload(payload: Any, sns_message_id: str, *, using: str | None = None) -> list[EmailEvent]:
    """Parse SES event JSON and store it; return the new rows ([] when the
    notification was stored before). Raises ``MalformedEvent`` on bad JSON
    and database errors as they come."""
    return store_rows(read_event(payload), sns_message_id, using=using)


def store_rows(rows: list[dict], sns_message_id: str, *, using: str | None = None) -> list[EmailEvent]:
    """Store rows of ``EmailEvent`` fields (made storable first, on copies);
    return the new rows ([] when the notification was stored before)."""
    if not rows:
        return []
    if not sns_message_id:
        raise ValueError("an SNS (or SQS) MessageId is needed to store events idempotently")
    using = using or get_config().log_database
    rows = [dict(row) for row in rows]
    notes = fit_rows(rows)
    fitted = {"sns_message_id": sns_message_id}
    notes += fit_fields(EmailEvent, fitted)
    sns_message_id = fitted["sns_message_id"]
    # One row per recipient, even if SES named one twice.
    rows = list({(row["event_type"], row["recipient"]): row for row in rows}.values())
    try:
        events = _store(rows, sns_message_id, using)
    except IntegrityError:
        # Stored by someone else between our check and our insert.
        if _stored_before(sns_message_id, using):
            return []
        raise
    if events and notes:
        logger.warning(
            "SES %s event (SNS MessageId %s, SES MessageId %s) was changed to fit the database: %s.",
            events[0].event_type, escaped(sns_message_id), escaped(events[0].message_id or "-"), "; ".join(notes),
        )
    return events


def _stored_before(sns_message_id: str, using: str) -> bool:
    if EmailEvent.objects.using(using).filter(sns_message_id=sns_message_id).exists():
        logger.info("SES event %s was stored before: ignored.", escaped(sns_message_id))
        return True
    return False


def _store(rows: list[dict], sns_message_id: str, using: str) -> list[EmailEvent]:
    with transaction.atomic(using=using):
        if _stored_before(sns_message_id, using):
            return []
        message_id = rows[0]["message_id"]
        log = None
        if message_id:
            log = EmailLog.objects.using(using).filter(message_id=message_id).order_by("id").first()
        events = [
            EmailEvent.objects.using(using).create(**row, log=log, sns_message_id=sns_message_id)
            for row in rows
        ]
        if log is not None:
            _raise_outcome(log, worst(OUTCOMES.get(e.event_type, Outcome.NONE) for e in events), using)
        for event in events:
            _suppress(event, using)
            transaction.on_commit(partial(_send_signal, event), using=using)
    return events


def _raise_outcome(log: EmailLog, outcome: str, using: str) -> None:
    """Set the outcome unless the row already has as bad a one (one
    conditional UPDATE, so concurrent events cannot lower it)."""
    if outcome == Outcome.NONE:
        return
    lower = PRECEDENCE[: PRECEDENCE.index(outcome)]
    EmailLog.objects.using(using).filter(pk=log.pk, outcome__in=lower).update(outcome=outcome)


def _suppress(event: EmailEvent, using: str) -> None:
    if event.event_type == EmailEvent.Type.COMPLAINT:
        reason = Suppression.Reason.COMPLAINT
    elif event.event_type == EmailEvent.Type.BOUNCE and event.bounce_type == "Permanent":
        reason = Suppression.Reason.BOUNCE
    else:
        return
    address = normalize_address(parseaddr(event.recipient)[1] or event.recipient)
    if not address:
        return
    # Topic "": every message, whatever topics the address unsubscribed from.
    _, created = Suppression.objects.using(using).get_or_create(
        address=address, topic="", defaults={"reason": reason, "event": event}
    )
    if created:
        logger.info("Suppressed %s (%s, SES MessageId %s).", escaped(address), reason, escaped(event.message_id or "-"))


def _send_signal(event: EmailEvent) -> None:
    try:
        ses_event.send(sender=EmailEvent, event=event)
    except Exception:
        logger.exception("An ses_event receiver failed.")
