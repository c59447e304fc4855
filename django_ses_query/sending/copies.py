"""Topic mail, a stage of the send pipeline: a message with an unsubscribe
topic goes as one ``SendRawEmail`` per envelope recipient, each with its own
one-click ``List-Unsubscribe`` link (RFC 8058); a message without one is
one request, as always.

Trusts the message to be a Django ``EmailMessage``; its topic is checked
(``topics.message_topic``). Each copy keeps the From, To, Cc, Reply-To and
Subject headers as written; its envelope (``Destinations``, and the log
row's to/cc/bcc) is its one recipient, in the list it was addressed in. A
caller's own ``List-Unsubscribe`` is kept as written: one request, no copies.
"""

from __future__ import annotations

import copy

from ..addresses import bare_address, format_addresses
from ..conf import Config
from ..exceptions import SESInvalidMessageError
from ..params import MAX_RECIPIENTS, SendRequest, build_request
from ..topics import list_unsubscribe_headers, message_topic, unsubscribe_link

_LIST_HEADERS = ("list-unsubscribe", "list-unsubscribe-post")


def has_header(message, name: str) -> bool:
    return any(key.lower() == name for key in (getattr(message, "extra_headers", None) or {}))


def envelope(message) -> list[tuple[str, str]]:
    """``(list, address)`` of each envelope recipient once (To, Cc, Bcc)."""
    seen: set[str] = set()
    recipients = []
    for kind, addresses in (("to", message.to), ("cc", message.cc), ("bcc", message.bcc)):
        for address in format_addresses(addresses):
            key = bare_address(address).lower()
            if key not in seen:
                seen.add(key)
                recipients.append((kind, address))
    return recipients


def build_requests(message, config: Config) -> list[tuple[object, SendRequest]]:
    """The requests for ``message``, each with the message its signals and
    log row describe: ``[(message, request)]`` without a topic (or with the
    caller's own ``List-Unsubscribe``), one ``(copy, request)`` per envelope
    recipient with one. Raises ``SESError`` before anything is sent."""
    topic = message_topic(message, config.unsubscribe_topic)
    options = dict(default_configuration_set=config.configuration_set, default_tags=config.tags)
    if not topic or has_header(message, "list-unsubscribe"):
        request = build_request(message, **options)
        request.topic = topic
        return [(message, request)]
    recipients = envelope(message)
    if len(recipients) > MAX_RECIPIENTS:
        # As without a topic: the copies are built before any is sent.
        raise SESInvalidMessageError(
            f"The message has {len(recipients)} recipients; at most {MAX_RECIPIENTS} per message (To, Cc "
            "and Bcc together), as SES accepts. Send a message per reader instead.",
            code="TooManyRecipients",
        )
    copies = []
    for kind, address in recipients:
        bare = bare_address(address)
        url = unsubscribe_link(config.unsubscribe_base_url, bare, topic)
        one = copy.copy(message)
        one.bcc = []
        one.extra_headers = {
            name: value for name, value in (message.extra_headers or {}).items()
            if name.lower() not in _LIST_HEADERS
        }
        one.extra_headers.update(list_unsubscribe_headers(url, config.unsubscribe_mailto))
        lists = {"to": [], "cc": [], "bcc": []}
        lists[kind] = [address]
        request = build_request(one, **options, envelope=(lists["to"], lists["cc"], lists["bcc"]))
        request.topic = topic
        # What signals and the row describe: the copy, sent to its recipient.
        one.to, one.cc, one.bcc = lists["to"], lists["cc"], lists["bcc"]
        copies.append((one, request))
    return copies
