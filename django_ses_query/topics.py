"""Unsubscribe topics and their links: a topic's name, the signed token of
(address, topic), the one-click URL and the ``List-Unsubscribe`` headers
(RFC 2369, RFC 8058).

Trusts nothing in a token: :func:`read_token` checks its signature (with
``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``, read at that moment) and its
shape, and answers None for anything else. Tokens carry no timestamp: a
link in a year-old message still works.
"""

from __future__ import annotations

import re

from django.core import signing
from django.urls import NoReverseMatch, reverse

from .exceptions import SESConfigurationError, SESInvalidMessageError

#: 1 to 64 ASCII letters, digits, '_', '-' or '.'.
TOPIC_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
#: Tokens are signed with a salt of their own: no other signed value of
#: the site can pass for one.
TOKEN_SALT = "django_ses_query.unsubscribe"
#: The URL name of the endpoint (``django_ses_query.urls``).
URL_NAME = "django_ses_query:unsubscribe"
_ADDRESS = re.compile(r"[^\s<>@,;:\"()\[\]\\]+@[^\s<>@,;:\"()\[\]\\]+\Z")


def topic_problem(topic) -> str | None:
    """What is wrong with ``topic`` (None: nothing)."""
    if not isinstance(topic, str) or not TOPIC_PATTERN.match(topic):
        return f"must be 1 to 64 ASCII letters, digits, '_', '-' or '.', not {topic!r}"
    return None


def message_topic(message, default: str) -> str:
    """The topic ``message`` is sent under: its ``unsubscribe_topic``
    (``""`` opts it out of ``default``), else the mailer's ``default``.
    Raises ``SESInvalidMessageError`` (``InvalidTopic``) for a bad one."""
    topic = getattr(message, "unsubscribe_topic", None)
    if topic is None:
        topic = default
    if topic == "":
        return ""
    problem = topic_problem(topic)
    if problem:
        raise SESInvalidMessageError(f"The message's unsubscribe topic {problem}.", code="InvalidTopic")
    return topic


def base_url_problem(url: str) -> str | None:
    """What is wrong with ``UNSUBSCRIBE_BASE_URL``: it is a scheme and a
    host (a port allowed), nothing else."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port
    except ValueError as error:
        return f"is not a valid URL ({error})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an https URL such as 'https://example.com'"
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        return "must be a scheme and a host only, such as 'https://example.com' (no path, query or user)"
    if any(c.isspace() for c in url) or not url.isascii():
        return "must be ASCII without whitespace (write an IDN host in its xn-- form)"
    return None


def mailto_problem(address: str) -> str | None:
    if not _ADDRESS.match(address) or not address.isascii():
        return "must be a bare ASCII address such as 'unsubscribe@example.com'"
    return None


def make_token(address: str, topic: str) -> str:
    """The token of ``address`` (compared lower-cased) and ``topic``."""
    return signing.Signer(salt=TOKEN_SALT).sign_object([address.strip().lower(), topic])


def read_token(token: str) -> tuple[str, str] | None:
    """``(address, topic)`` of a valid token; None for anything else."""
    try:
        value = signing.Signer(salt=TOKEN_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError):
        return None
    if (
        not isinstance(value, list) or len(value) != 2
        or not all(isinstance(part, str) for part in value)
        or "@" not in value[0] or topic_problem(value[1])
    ):
        return None
    return value[0], value[1]


def unsubscribe_link(base_url: str | None, address: str, topic: str) -> str:
    """``base_url`` + the endpoint's path for the token of (address, topic).
    Raises ``SESConfigurationError`` (``UnsubscribeNotConfigured``) when
    there is no base URL or the endpoint's URL does not reverse."""
    if not base_url:
        raise SESConfigurationError(
            f"The unsubscribe topic {topic!r} needs UNSUBSCRIBE_BASE_URL (such as "
            "'https://example.com'), which is not set.",
            code="UnsubscribeNotConfigured",
        )
    try:
        path = reverse(URL_NAME, args=[make_token(address, topic)])
    except NoReverseMatch:
        raise SESConfigurationError(
            f"The unsubscribe topic {topic!r} needs the URL {URL_NAME!r}, which does not reverse: "
            "add path('ses/', include('django_ses_query.urls')) to the URLconf.",
            code="UnsubscribeNotConfigured",
        ) from None
    return base_url.rstrip("/") + path


def list_unsubscribe_headers(url: str, mailto: str | None = None) -> dict[str, str]:
    """``List-Unsubscribe`` (the https URI first) and
    ``List-Unsubscribe-Post``, in that order."""
    value = f"<{url}>"
    if mailto:
        value += f", <mailto:{mailto}?subject=unsubscribe>"
    return {"List-Unsubscribe": value, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
