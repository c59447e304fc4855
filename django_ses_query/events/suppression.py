"""The send path's side of suppression: with ``SUPPRESSION`` on, suppressed
recipients are taken out of a request's envelope before it is sent.

Trusts the request (built by ``params``) and the ``Suppression`` table.
"""

from __future__ import annotations

import logging

from .. import query
from ..addresses import bare_address
from ..params import SEND_EMAIL, SendRequest

logger = logging.getLogger("django_ses_query")


def remove_suppressed(request: SendRequest, using: str) -> bool:
    """Take suppressed addresses out of ``request`` (listed in its
    ``suppressed``); return False when no recipient is left.

    Should the table not be readable, the message is sent to everyone (and
    the error logged): a send is not failed for the list's sake.
    """
    from ..models import Suppression, normalize_address

    keys = {normalize_address(bare_address(a)) for a in (*request.to, *request.cc, *request.bcc)}
    try:
        suppressed = set(
            Suppression.objects.using(using).filter(address__in=keys).values_list("address", flat=True)
        )
    except Exception:
        logger.exception("Could not read the suppression list; sending to every recipient.")
        return True
    if not suppressed:
        return True

    def kept(addresses):
        return [a for a in addresses if normalize_address(bare_address(a)) not in suppressed]

    removed = []
    for address in (*request.to, *request.cc, *request.bcc):
        bare = bare_address(address)
        if normalize_address(bare) in suppressed and bare not in removed:
            removed.append(bare)
    request.suppressed = removed
    if request.action == SEND_EMAIL:
        destination = request.params["Destination"]
        for key in ("ToAddresses", "CcAddresses", "BccAddresses"):
            destination[key] = kept(destination.get(key) or [])
        left = sum(len(destination[key]) for key in destination)
    else:
        # The MIME's To and Cc headers stay as written: Destinations is the
        # envelope SES delivers to.
        request.params["Destinations"] = kept(request.params["Destinations"])
        left = len(request.params["Destinations"])
    logger.info("Not sending to suppressed address(es): %s.", ", ".join(removed))
    if not left:
        return False
    request.body = query.encode(request.action, request.params)
    request.size_bytes = len(request.body)
    return True
