"""Email addresses as SES takes them.

SES has no SMTPUTF8: domains go as punycode, non-ASCII display names as
RFC 2047 encoded-words, and a non-ASCII local part cannot be sent at all.
"""

from __future__ import annotations

import re
from email.header import Header
from functools import lru_cache
from email.utils import formataddr, getaddresses

from django.utils.encoding import punycode

from .exceptions import SESInvalidMessageError


def _invalid(code: str, message: str) -> SESInvalidMessageError:
    return SESInvalidMessageError(message, code=code)


#: Control characters but TAB: CR/LF would start a header line; NUL and the
#: rest are refused by SES (and by PostgreSQL, for the send log).
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: An address with nothing around it (``a@example.com``): no parsing needed
#: (large bulk sends have thousands, more than the caches below hold).
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\Z")


def check_header_text(name: str, value: str) -> str:
    """Refuse CR/LF in a header value, as Django does for MIME headers, and
    the other control characters (NUL...) but TAB."""
    if "\n" in value or "\r" in value:
        raise _invalid("InvalidHeader", f"{name} header cannot contain newlines: {value!r}")
    if _CONTROLS.search(value):
        raise _invalid("InvalidHeader", f"{name} header cannot contain control characters: {value!r}")
    return value


#: Distinct addresses remembered by the pure functions below: bulk sends
#: repeat their From, Cc and Reply-To, and parsing is costly.
ADDRESS_CACHE_SIZE = 1024


def format_address(address) -> str:
    """One address, ready for SES: ``"Name" <local@xn--domain>``."""
    if isinstance(address, (tuple, list)) and len(address) == 2:
        name, addr = (str(part) for part in address)
        return _format_address(f"{name} <{addr}>", name, addr)
    return _format_address(str(address), None, None)


@lru_cache(maxsize=ADDRESS_CACHE_SIZE)
def _format_address(raw: str, name: str | None, addr: str | None) -> str:
    """``raw`` is parsed when ``name`` and ``addr`` are None (a pure
    function of its arguments: errors are raised again, never cached)."""
    if "\n" in raw or "\r" in raw:
        raise _invalid("InvalidAddress", f"Invalid address {raw!r}: it contains a newline.")
    if _CONTROLS.search(raw) or "\t" in raw:
        raise _invalid("InvalidAddress", f"Invalid address {raw!r}: it contains a control character.")
    if addr is None and _PLAIN_ADDRESS.match(raw):
        name, addr = "", raw  # what getaddresses() gives, without parsing
    elif addr is None:
        parsed = getaddresses([raw])
        if len(parsed) != 1:
            raise _invalid("InvalidAddress", f"Invalid address {raw!r}: expected one address.")
        name, addr = parsed[0]
    localpart, at, domain = addr.rpartition("@")
    if not at or not localpart or not domain:
        raise _invalid("InvalidAddress", f"Invalid address {raw!r}.")
    if not localpart.isascii():
        raise _invalid(
            "NonAsciiLocalPart",
            f"Cannot send to or from {addr!r}: SES does not accept non-ASCII "
            "characters before the '@' (no SMTPUTF8).",
        )
    try:
        domain = punycode(domain)
    except UnicodeError as error:
        raise _invalid("InvalidAddress", f"Invalid domain in {raw!r}: {error}.") from None
    addr = f"{localpart}@{domain}"
    if name and not name.isascii():
        # RFC 2047: encoded-words of at most 75 characters, separated by spaces.
        encoded = Header(name, "utf-8", header_name="To").encode(linesep="\n", maxlinelen=75)
        return f"{' '.join(encoded.split())} <{addr}>"
    return formataddr((name, addr))


def format_addresses(addresses) -> list[str]:
    return [format_address(address) for address in addresses or () if address]


def bare_address(formatted: str) -> str:
    """``"Name" <a@example.com>`` → ``a@example.com``."""
    if _PLAIN_ADDRESS.match(formatted):
        return formatted
    return _parsed_bare_address(formatted)


@lru_cache(maxsize=ADDRESS_CACHE_SIZE)
def _parsed_bare_address(formatted: str) -> str:
    return getaddresses([formatted])[0][1]
