"""SES event JSON → event rows (dicts of ``EmailEvent`` fields).

Trusts the JSON's origin (the caller verified the SNS signature or read it
from the project's own queue), not its shape: checks that it is an object
with a known ``eventType`` (configuration-set event publishing) or
``notificationType`` (identity notifications), and that the lists and
fields read are what SES sends; anything else is :class:`MalformedEvent`.
:func:`read_event` keeps SES's values as they are; :func:`fit_rows` makes
them storable (no NUL characters, no lone surrogates, texts cut to their
column) and says what it changed. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from ..models import EmailEvent
from ..logsafe import shown
from ..storable import fit_fields, timestamp
from .sns import MalformedMessage

Type = EmailEvent.Type

#: SES's names (both styles) → our event types.
EVENT_TYPES = {
    "Send": Type.SEND,
    "Reject": Type.REJECT,
    "Bounce": Type.BOUNCE,
    "Complaint": Type.COMPLAINT,
    "Delivery": Type.DELIVERY,
    "DeliveryDelay": Type.DELIVERY_DELAY,
    "Open": Type.OPEN,
    "Click": Type.CLICK,
    "Rendering Failure": Type.RENDERING_FAILURE,
    "Subscription": Type.SUBSCRIPTION,
}

#: The object holding each type's details, and its list of recipients
#: (``None``: the event names no recipient).
_DETAILS = {
    Type.SEND: ("send", None),
    Type.REJECT: ("reject", None),
    Type.BOUNCE: ("bounce", "bouncedRecipients"),
    Type.COMPLAINT: ("complaint", "complainedRecipients"),
    Type.DELIVERY: ("delivery", "recipients"),
    Type.DELIVERY_DELAY: ("deliveryDelay", "delayedRecipients"),
    Type.OPEN: ("open", None),
    Type.CLICK: ("click", None),
    Type.RENDERING_FAILURE: ("failure", None),
    Type.SUBSCRIPTION: ("subscription", None),
}

#: Sent by SES once, when a topic is set on an identity: not an event.
SUBSCRIPTION_SUCCEEDED = "AmazonSnsSubscriptionSucceeded"


class MalformedEvent(MalformedMessage):
    """Not SES event JSON."""


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _object(value: Any, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedEvent(f"{what} is not a JSON object")
    return value


def _timestamp(*candidates: Any):
    for value in candidates:
        parsed = timestamp(value)
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return None


def event_type(payload: dict) -> str | None:
    """Our type for the payload; None for SES's subscription notice."""
    name = payload.get("eventType", payload.get("notificationType"))
    if name == SUBSCRIPTION_SUCCEEDED:
        return None
    if name not in EVENT_TYPES:
        raise MalformedEvent(f"unknown SES eventType/notificationType {shown(name)}")
    return EVENT_TYPES[name]


def parse_event(payload: Any) -> list[dict[str, Any]]:
    """:func:`read_event`'s rows, made storable by :func:`fit_rows`."""
    rows = read_event(payload)
    fit_rows(rows)
    return rows


def fit_rows(rows: list[dict[str, Any]]) -> list[str]:
    """Make each row storable on every database, in place; return what was
    changed (each change said once)."""
    notes: list[str] = []
    for row in rows:
        notes.extend(note for note in fit_fields(EmailEvent, row) if note not in notes)
    return notes


def read_event(payload: Any) -> list[dict[str, Any]]:
    """One dict of ``EmailEvent`` fields per recipient the event names (one
    with an empty recipient when it names none), with SES's values as they
    are; ``[]`` for SES's subscription notice. ``log`` and
    ``sns_message_id`` are the caller's."""
    if not isinstance(payload, dict):
        raise MalformedEvent("the SES event is not a JSON object")
    kind = event_type(payload)
    if kind is None:
        return []
    mail = _object(payload.get("mail"), "mail")
    key, recipients_key = _DETAILS[kind]
    details = _object(payload.get(key), key)
    common = {
        "message_id": _text(mail.get("messageId")),
        "event_type": kind,
        "timestamp": _timestamp(details.get("timestamp"), mail.get("timestamp")),
        "bounce_type": _text(details.get("bounceType")) if kind == Type.BOUNCE else "",
        "bounce_subtype": _text(details.get("bounceSubType")) if kind == Type.BOUNCE else "",
        "feedback_type": (
            _text(details.get("complaintFeedbackType")) if kind == Type.COMPLAINT else ""
        ),
        "diagnostic": _text(
            details.get("reason") or details.get("errorMessage") or details.get("smtpResponse")
            or details.get("delayType")
        ),
        "payload": payload,
    }
    if recipients_key is None:
        return [{**common, "recipient": ""}]
    recipients = details.get(recipients_key)
    if not isinstance(recipients, list):
        raise MalformedEvent(f"{key}.{recipients_key} is not a list")
    rows = []
    for item in recipients:
        if isinstance(item, str):  # Delivery: plain addresses.
            address, diagnostic = item, None
        elif isinstance(item, dict) and isinstance(item.get("emailAddress"), str):
            address, diagnostic = item["emailAddress"], item.get("diagnosticCode")
        else:
            raise MalformedEvent(f"{key}.{recipients_key} holds {type(item).__name__}, not a recipient")
        row = {**common, "recipient": _text(address)}
        if diagnostic:
            row["diagnostic"] = _text(diagnostic)
        rows.append(row)
    return rows or [{**common, "recipient": ""}]
