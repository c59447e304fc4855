"""Header values of a received message, read without ever raising.

Trusts nothing in a header. ``email.policy.default`` reads each value
(RFC 2047 decoded, addresses parsed); a value it cannot read (a
``RecursionError`` from thousands of nested comments, an unknown charset in
an encoded-word, anything else) falls back to its raw text, and a value too
long or with too many encoded-words to parse quickly is decoded by
``email.header`` instead. Each fallback is named in the problems. Pure.
"""

from __future__ import annotations

import email.policy
import re
from email.header import decode_header

POLICY = email.policy.default
#: Past this many characters or encoded-words, a value is not given to the
#: policy's header parser (10,000 encoded-words take it seconds).
LONG_HEADER = 8192
MANY_WORDS = 200
#: Headers of a message kept in ``InboundEmail.headers``.
MAX_HEADERS = 1000

ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender"})
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,998})>")


def readable(value: str) -> str:
    """A raw header value as text: unfolded, undecodable bytes (held as
    surrogates by the bytes parser) decoded as UTF-8 with replacement."""
    value = _FOLD.sub("", value)
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return value.encode("utf-8", "replace").decode("utf-8", "replace")


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, bool]:
    """``data`` decoded in ``charset``; an unknown or unusable charset (and
    bytes that do not decode) as UTF-8 with replacement. True when it had to."""
    try:
        return data.decode(charset or "utf-8"), False
    except (LookupError, UnicodeError, ValueError, TypeError):
        return data.decode("utf-8", "replace"), True


def decode_words(value: str) -> str:
    """RFC 2047 encoded-words decoded by ``email.header`` (linear time)."""
    chunks = []
    for chunk, charset in decode_header(readable(value)):
        chunks.append(chunk if isinstance(chunk, str) else decode_bytes(chunk, charset)[0])
    return "".join(chunks)


def read(name: str, raw_value: str, problems: list[str]):
    """The policy's header object for ``raw_value`` (a ``str`` subclass,
    with ``addresses`` for address headers), or the value as text."""
    if len(raw_value) > LONG_HEADER or raw_value.count("=?") > MANY_WORDS:
        problems.append(
            f"the {name[:60]} header is too long or too encoded to parse ({len(raw_value)} characters): "
            "its encoded-words were decoded, its addresses not parsed"
        )
        try:
            return decode_words(raw_value)
        except Exception:
            problems.append(f"the {name[:60]} header could not be decoded; kept as its raw text")
            return readable(raw_value)
    try:
        header = POLICY.header_fetch_parse(name, raw_value)
        str(header)
        if name.lower() in ADDRESS_HEADERS:
            header.addresses  # noqa: B018  Parsed now, so a failure falls back here.
        return header
    except Exception:  # RecursionError included.
        problems.append(f"the {name[:60]} header could not be read; kept as its raw text")
        return readable(raw_value)


def header_items(message, problems: list[str]) -> list[tuple[str, object]]:
    """Every top-level header, read (see :func:`read`), at most MAX_HEADERS."""
    items = []
    for index, (name, raw_value) in enumerate(message.raw_items()):
        if index >= MAX_HEADERS:
            problems.append(f"only the first {MAX_HEADERS} headers were kept")
            break
        items.append((readable(name), read(name, raw_value, problems)))
    return items


def addresses(values) -> list[str]:
    """Each address of address headers (``Name <a@example.com>``); a value
    that did not parse as addresses is kept whole."""
    found = []
    for value in values:
        parsed = getattr(value, "addresses", None)
        if parsed is None:
            found.append(str(value))
            continue
        try:
            found.extend(str(address) for address in parsed)
        except Exception:
            found.append(readable(str(value)))
    return found


def message_ids(value: str) -> list[str]:
    """The ``<id>`` in a Message-ID, In-Reply-To or References value,
    without angle brackets (the words of the value if it has none)."""
    ids = _MESSAGE_ID.findall(value)
    return ids if ids else value.split()[:1000]
