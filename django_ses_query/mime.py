"""Message to MIME bytes, for SendRawEmail.

Django builds the MIME message; this stage makes it acceptable to SES:
CRLF line endings, no 8-bit content (SES does not take 8BITMIME), so
every 8-bit part is re-encoded as quoted-printable (text) or base64, and no
line longer than 998 characters (SES refuses the message: "552 message line
is too long"). Django 6 folds every header itself; Django 5.2's compat32
policy leaves a value with no place to fold (a 1,200-character subject) on
one line: an unstructured header is then written as RFC 2047 encoded-words,
which fold anywhere, and a structured one (a long URL in List-Unsubscribe,
a file name) is refused with the code ``LineTooLong``.
"""

from __future__ import annotations

import base64
import quopri
import re
from functools import lru_cache
from io import BytesIO
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message

from .exceptions import SESInvalidMessageError

# RFC 5322 section 2.1.1: lines must be no more than 998 characters.
MAX_LINE_LENGTH = 998


def _needs_reencoding(part: Message) -> bool:
    cte = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if cte in ("quoted-printable", "base64"):
        return False
    if cte in ("8bit", "binary"):
        return True
    payload = part.get_payload()
    if not isinstance(payload, str):
        return False
    if not payload.isascii():
        return True
    return any(len(line) > MAX_LINE_LENGTH for line in payload.splitlines())


def _payload_bytes(part: Message) -> bytes:
    # The stored payload: get_payload() would replace 8-bit bytes that are
    # not valid in the part's charset (binary data) with U+FFFD.
    payload = part._payload
    if isinstance(payload, bytes):
        return payload
    try:
        # The email package keeps 8-bit bytes as surrogate escapes.
        return payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return payload.encode(part.get_content_charset() or "utf-8")


def to_7bit(message: Message) -> None:
    """Re-encode, in place, every part SES would refuse as 8-bit."""
    for part in message.walk():
        if part.is_multipart() or not _needs_reencoding(part):
            continue
        data = _payload_bytes(part)
        del part["Content-Transfer-Encoding"]
        if part.get_content_maintype() == "text":
            # Normalise line endings first so quoted-printable keeps hard
            # line breaks as line breaks, not as =0D.
            data = data.replace(b"\r\n", b"\n")
            encoded = quopri.encodestring(data).decode("ascii")
            part["Content-Transfer-Encoding"] = "quoted-printable"
        else:
            encoded = base64.encodebytes(data).decode("ascii")
            part["Content-Transfer-Encoding"] = "base64"
        part.set_payload(encoded)


#: Headers with a syntax of their own: encoded-words would change their
#: meaning, so they are never encoded to make them fold.
STRUCTURED_HEADERS = frozenset(
    {
        "from", "sender", "reply-to", "to", "cc", "bcc", "date", "message-id", "in-reply-to",
        "references", "return-path", "mime-version", "content-type", "content-disposition",
        "content-transfer-encoding", "content-id", "list-id", "list-unsubscribe",
        "list-unsubscribe-post", "list-help", "list-subscribe", "list-post", "list-owner",
        "list-archive",
    }
)


def _too_long(text: str) -> bool:
    return any(len(line) > MAX_LINE_LENGTH for line in text.splitlines())


def fold_long_headers(message: Message) -> None:
    """Make, in place, every header fold into lines of at most 998
    characters: encoded-words for unstructured ones; ``LineTooLong`` for
    structured ones that cannot fold."""
    for part in message.walk():
        for name, value in list(part.items()):
            if not isinstance(value, str) or len(name) + 2 + len(value) <= MAX_LINE_LENGTH:
                continue  # Short, or a Header object (encoded-words already).
            literal = fold_literally(name, value) if name.lower() in LITERAL_HEADERS else None
            if not _too_long(literal or part.policy.fold(name, value)):
                continue
            if name.lower() in STRUCTURED_HEADERS:
                raise SESInvalidMessageError(
                    f"The {name} header has a part of {len(max(value.split(), key=len))} characters "
                    f"with nowhere to fold it; SES refuses lines over {MAX_LINE_LENGTH} characters.",
                    code="LineTooLong",
                )
            part.replace_header(name, Header(value, "utf-8", header_name=name))


#: Headers mail providers read literally (RFC 2369, RFC 8058): written as
#: given, folded only after a comma between two ``<...>`` URIs. Python's
#: folding would turn a long URL into RFC 2047 encoded-words, which no
#: provider reads as a URI.
LITERAL_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post"})
_URI_SEPARATOR = re.compile(r"(?<=>)\s*,\s*")


def fold_literally(name: str, value: str, linesep: str = "\r\n") -> str | None:
    """``name: value`` as one header, folded only between ``<...>`` items
    when longer than 78 characters; None for a value that is not ASCII."""
    value = " ".join(str(value).split())
    if not value.isascii():
        return None
    items = _URI_SEPARATOR.split(value)
    line = f"{name}: {', '.join(items)}"
    if len(line) <= 78:
        return line + linesep
    return f"{name}: " + f",{linesep} ".join(items) + linesep


def literal_policy(policy):
    """``policy`` (Django's: compat32 on 5.2, the modern one on 6.x), but
    writing :data:`LITERAL_HEADERS` with :func:`fold_literally`."""
    return _literal_class(type(policy))(**vars(policy))


@lru_cache(maxsize=None)
def _literal_class(base: type) -> type:
    class LiteralListHeaders(base):
        def fold(self, name, value):
            if name.lower() in LITERAL_HEADERS:
                folded = fold_literally(name, value, self.linesep)
                if folded is not None:
                    return folded
            return super().fold(name, value)

        def fold_binary(self, name, value):
            if name.lower() in LITERAL_HEADERS:
                folded = fold_literally(name, value, self.linesep)
                if folded is not None:
                    return folded.encode("ascii")
            return super().fold_binary(name, value)

    return LiteralListHeaders


def raw_message_bytes(email_message, remove_headers: tuple[str, ...] = ()) -> bytes:
    """The MIME bytes of a Django ``EmailMessage``: 7-bit, CRLF, no Bcc."""
    message = email_message.message()  # Also validates the headers.
    for name in ("Bcc", *remove_headers):
        del message[name]
    to_7bit(message)
    fold_long_headers(message)
    buffer = BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=literal_policy(message.policy)).flatten(
        message, linesep="\r\n"
    )
    raw = buffer.getvalue()
    if max(map(len, raw.split(b"\r\n"))) > MAX_LINE_LENGTH:
        raise SESInvalidMessageError(
            f"A line of the raw message is longer than {MAX_LINE_LENGTH} characters; SES "
            "refuses it.",
            code="LineTooLong",
        )
    return raw
