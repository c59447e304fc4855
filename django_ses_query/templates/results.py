"""Each destination's outcome in a ``SendBulkTemplatedEmail`` answer.

Trusts the answer to be parsed XML (``responses``), not to be complete: a
destination without a ``Status`` member is ``unknown`` (SES may have sent
it); a member with a ``MessageId`` and no ``Status`` (as moto answers) is
accepted; any ``Status`` but ``Success`` is a failure, with SES's code
verbatim and its ``Error`` text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..exceptions import SESError, SESResponseError
from ..responses import error_class

SENT = "sent"
FAILED = "failed"
UNKNOWN = "unknown"
SUPPRESSED = "suppressed"


@dataclass
class RecipientStatus:
    """What happened to one recipient of a templated send
    (``message.ses_recipients[address]``; anymail's
    ``anymail_status.recipients[address]``).

    ``status`` is the send log's: ``sent``, ``failed``, ``unknown`` or
    ``suppressed``. ``message_id`` is SES's MessageId (None unless sent),
    ``error`` the :class:`~django_ses_query.exceptions.SESError` (None when
    sent), ``log`` the send log row (None when not logged).
    """

    status: str
    message_id: str | None = None
    error: SESError | None = None
    log: Any = None


@dataclass
class DestinationOutcome:
    status: str
    message_id: str | None = None
    error: SESError | None = None


def destination_outcomes(result, count: int) -> list[DestinationOutcome]:
    """The outcome of each of the ``count`` destinations of a request, in
    order, from its answer (a :class:`~django_ses_query.responses.Result`)."""
    outcomes = []
    for index in range(count):
        member = result.members[index] if index < len(result.members) else None
        status = (member or {}).get("Status") or ""
        message_id = (member or {}).get("MessageId") or None
        if status == "Success" or (not status and message_id):
            outcomes.append(DestinationOutcome(SENT, message_id))
        elif not status:
            outcomes.append(DestinationOutcome(UNKNOWN, None, SESResponseError(
                f"SendBulkTemplatedEmail succeeded but its answer has no status for destination "
                f"{index + 1}; the message may have been sent.",
                code="MissingStatus", http_status=200, request_id=result.request_id,
            )))
        else:
            text = (member or {}).get("Error") or ""
            klass = error_class(status, text, None)
            outcomes.append(DestinationOutcome(
                FAILED, None, klass(text, code=status, request_id=result.request_id)
            ))
    return outcomes
