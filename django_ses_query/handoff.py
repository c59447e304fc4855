"""SES notifications that one capability receives and another handles.

The events webhook and ``ses_events`` receive every SES notification; a
capability that handles a kind of its own (``inbound`` for
``notificationType: "Received"``) registers a handler here when the app is
ready, so the receivers never import it. Pure: a registry, no I/O.

A handler is called with the notification (the SES JSON, a dict), the SNS
(or SQS) MessageId and the SNS TopicArn (None for a raw delivery), only
after the receiver's own checks passed; it returns a :class:`Handled`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Handled:
    """What became of a notification, as the receivers act on it.

    ``status``: the HTTP status the webhook answers (200 done, 400 never
    storable, 500 try again); the poller deletes the queue message only on
    200. ``stored``: rows stored. ``text``: a short answer, no secret.
    """

    status: int
    text: str
    stored: int = 0

    @property
    def done(self) -> bool:
        return self.status == 200


Handler = Callable[[dict, str, "str | None"], Handled]

_handlers: dict[str, Handler] = {}


def register(notification_type: str, handler: Handler) -> None:
    _handlers[notification_type] = handler


def handler_for(payload: Any) -> Handler | None:
    """The handler registered for this notification's ``notificationType``
    (None: the events' own parser reads it)."""
    if not isinstance(payload, dict):
        return None
    kind = payload.get("notificationType")
    if not isinstance(kind, str):
        return None
    return _handlers.get(kind)
