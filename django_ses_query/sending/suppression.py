"""Suppression, a stage of the send pipeline: suppressed recipients are
taken out of a request's envelope at the moment it is sent (and, for queued
mail, already when it is queued). Rows with the topic ``""`` (bounces,
complaints) apply to every message with ``SUPPRESSION`` on; a message with
a topic also skips whoever unsubscribed from that topic or from every topic
(``*``), whatever ``SUPPRESSION`` says.

Trusts the request (built by ``params``, or a queued row's body written from
one) and the ``Suppression`` table. Works on the form-encoded body, so a
request rebuilt from a queued row is filtered exactly like a new one: the
``SendEmail`` ``Destination.*`` or ``SendRawEmail`` ``Destinations`` members
of a suppressed address go, the rest are numbered again from 1. The MIME
headers of a raw message stay as written: the envelope is what SES delivers to.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

from .. import query
from ..addresses import bare_address
from ..exceptions import SESError
from ..params import SendRequest

logger = logging.getLogger("django_ses_query")

#: Envelope members: ``(list name, index)``.
_MEMBER = re.compile(r"(Destination\.(?:To|Cc|Bcc)Addresses|Destinations)\.member\.(\d+)\Z")


def suppression_topics(topic: str, everyone: bool) -> list[str]:
    """The ``Suppression.topic`` values that keep a message with ``topic``
    from a recipient; ``everyone``: ``SUPPRESSION`` is on."""
    topics = [""] if everyone else []
    if topic:
        topics += [topic, "*"]
    return topics


def suppressed_keys(addresses, using: str) -> set[str] | None:
    """The normalized keys of ``addresses`` suppressed for every message
    (bounces, complaints: topic ``""``); None when
    the table cannot be read (logged: the message goes to everyone)."""
    from ..models import Suppression, normalize_address

    keys = {normalize_address(bare_address(a)) for a in addresses}
    try:
        return set(
            Suppression.objects.using(using).filter(address__in=keys, topic="").values_list("address", flat=True)
        )
    except Exception:
        logger.exception("Could not read the suppression list; sending to every recipient.")
        return None


def drop_suppressed(bulk, using: str) -> None:
    """A bulk send (``templates.message.BulkSend``) before it is split into
    requests: a destination whose To address is suppressed goes (into
    ``bulk.suppressed``); a suppressed Cc or Bcc leaves every destination."""
    from ..models import normalize_address

    base = bulk.base
    suppressed = suppressed_keys([*(d.to for d in bulk.destinations), *base.cc, *base.bcc], using)
    if not suppressed:
        return
    kept = []
    for destination in bulk.destinations:
        if normalize_address(destination.address) in suppressed:
            bulk.suppressed.append(destination)
        else:
            kept.append(destination)
    bulk.destinations = kept
    for name in ("cc", "bcc"):
        addresses = getattr(base, name)
        left = [a for a in addresses if normalize_address(bare_address(a)) not in suppressed]
        base.suppressed.extend(bare_address(a) for a in addresses if a not in left)
        setattr(base, name, left)
    logger.info(
        "Not sending to suppressed address(es): %s.",
        ", ".join([d.address for d in bulk.suppressed] + base.suppressed),
    )


def remove_suppressed_from_all(requests: list[SendRequest], using: str, *, everyone: bool = True) -> list[bool]:
    """Take suppressed addresses out of requests of one topic (the copies of
    one message), with one query (added to each one's ``suppressed``);
    whether each keeps a recipient.

    Should the table not be readable, a message without a topic is sent to
    everyone (and the error logged): a send is not failed for the list's
    sake. A message with a topic is not sent to someone who may have
    unsubscribed: ``SESError`` with the code ``SuppressionListUnavailable``."""
    from ..models import Suppression, normalize_address

    topic = requests[0].topic
    topics = suppression_topics(topic, everyone)
    if not topics:
        return [True] * len(requests)
    keys = {
        normalize_address(bare_address(a)) for request in requests for a in (*request.to, *request.cc, *request.bcc)
    }
    try:
        suppressed = set(
            Suppression.objects.using(using)
            .filter(address__in=keys, topic__in=topics)
            .values_list("address", flat=True)
        )
    except Exception as error:
        if topic:
            logger.exception("Could not read the suppression list; not sending %r mail.", topic)
            raise SESError(
                f"The suppression list could not be read ({type(error).__name__}); a message with "
                f"the topic {topic!r} is not sent to someone who may have unsubscribed.",
                code="SuppressionListUnavailable",
            ) from None
        logger.exception("Could not read the suppression list; sending to every recipient.")
        return [True] * len(requests)
    return [_take_out(request, suppressed) for request in requests]


def _take_out(request: SendRequest, suppressed: set[str]) -> bool:
    """Take the ``suppressed`` keys out of ``request``'s envelope; False
    when nobody is left."""
    from ..models import normalize_address

    if not suppressed:
        return True

    removed = list(request.suppressed)
    for address in (*request.to, *request.cc, *request.bcc):
        bare = bare_address(address)
        if normalize_address(bare) in suppressed and bare not in removed:
            removed.append(bare)
    request.suppressed = removed
    pairs, left = [], 0
    numbers: dict[str, int] = {}
    for name, value in parse_qsl(request.body.decode("ascii"), keep_blank_values=True)[2:]:
        member = _MEMBER.match(name)
        if member is None:
            pairs.append((name, value))
            continue
        if normalize_address(bare_address(value)) in suppressed:
            continue
        list_name = member.group(1)
        numbers[list_name] = numbers.get(list_name, 0) + 1
        pairs.append((f"{list_name}.member.{numbers[list_name]}", value))
        left += 1
    logger.info("Not sending to suppressed address(es): %s.", ", ".join(removed))
    if not left:
        return False
    request.body = query.encode(request.action, pairs)
    request.size_bytes = len(request.body)
    return True

