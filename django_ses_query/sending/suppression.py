"""Suppression, a stage of the send pipeline: with ``SUPPRESSION`` on,
suppressed recipients are taken out of a request's envelope at the moment
it is sent (and, for queued mail, already when it is queued).

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
from ..params import SendRequest

logger = logging.getLogger("django_ses_query")

#: Envelope members: ``(list name, index)``.
_MEMBER = re.compile(r"(Destination\.(?:To|Cc|Bcc)Addresses|Destinations)\.member\.(\d+)\Z")


def suppressed_keys(addresses, using: str) -> set[str] | None:
    """The normalized keys of ``addresses`` that are suppressed; None when
    the table cannot be read (logged: the message goes to everyone)."""
    from ..models import Suppression, normalize_address

    keys = {normalize_address(bare_address(a)) for a in addresses}
    try:
        return set(Suppression.objects.using(using).filter(address__in=keys).values_list("address", flat=True))
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


def remove_suppressed(request: SendRequest, using: str) -> bool:
    """Take suppressed addresses out of ``request`` (added to its
    ``suppressed``); return False when no recipient is left.

    Should the table not be readable, the message is sent to everyone (and
    the error logged): a send is not failed for the list's sake.
    """
    from ..models import normalize_address

    suppressed = suppressed_keys((*request.to, *request.cc, *request.bcc), using)
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

