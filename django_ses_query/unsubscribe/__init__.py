"""One-click unsubscribe (RFC 8058) by topic: the link a message with a
topic carries, and the endpoint it points to (``views``), which stores the
unsubscribe (``store``) as a ``Suppression`` row for that topic.

The token and the header values are made in ``topics`` (a pure stage the
send pipeline uses as well); this package holds what needs settings, the
database or a request.
"""

from __future__ import annotations

from ..conf import get_config
from ..exceptions import SESInvalidMessageError
from ..topics import make_token, read_token, topic_problem, unsubscribe_link

__all__ = ["make_token", "read_token", "unsubscribe_url"]


def unsubscribe_url(address: str, topic: str) -> str:
    """``UNSUBSCRIBE_BASE_URL`` + the endpoint's path for ``address`` and
    ``topic``: the URL a message with that topic carries (for a page of your
    own, or a footer link). Raises ``SESInvalidMessageError`` (``InvalidTopic``)
    for a bad topic, ``SESConfigurationError`` (``UnsubscribeNotConfigured``)
    when the base URL is unset or the endpoint does not reverse."""
    problem = topic_problem(topic)
    if problem:
        raise SESInvalidMessageError(f"The unsubscribe topic {problem}.", code="InvalidTopic")
    if not isinstance(address, str) or "@" not in address:
        raise ValueError(f"unsubscribe_url() needs an email address, not {address!r}.")
    return unsubscribe_link(get_config().unsubscribe_base_url, address, topic)
