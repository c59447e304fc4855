"""An unsubscribe → a ``Suppression`` row on ``LOG_DATABASE``, and the
``unsubscribed`` signal once it is committed.

Trusts its arguments (an address and a topic read from a signed token).
Idempotent: the same unsubscribe again, or two at once, leaves one row and
sends the signal once.
"""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction

from ..models import Suppression, normalize_address
from ..signals import unsubscribed

logger = logging.getLogger("django_ses_query")


def unsubscribe(address: str, topic: str, using: str) -> tuple[Suppression, bool]:
    """Store that ``address`` wants no more mail of ``topic`` (``*``: any
    topic); return the row and whether it is new. Committed on return
    (unless the caller holds a transaction open on ``using``)."""
    address = normalize_address(address)
    with transaction.atomic(using=using):
        # get_or_create survives a concurrent insert (the unique constraint
        # on address and topic): the loser reads the winner's row.
        suppression, created = Suppression.objects.using(using).get_or_create(
            address=address, topic=topic, defaults={"reason": Suppression.Reason.UNSUBSCRIBE}
        )
        if created:
            transaction.on_commit(partial(_send_signal, suppression), using=using)
    if created:
        logger.info("Unsubscribed %s from %s.", address, "every topic" if topic == "*" else repr(topic))
    return suppression, created


def _send_signal(suppression: Suppression) -> None:
    try:
        unsubscribed.send(
            sender=Suppression, address=suppression.address, topic=suppression.topic, suppression=suppression
        )
    except Exception:
        logger.exception("An unsubscribed receiver failed.")
