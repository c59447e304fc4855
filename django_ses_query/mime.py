"""Message to MIME bytes, for SendRawEmail.

Django builds the MIME message; this stage makes it acceptable to SES:
CRLF line endings, and no 8-bit content (SES does not take 8BITMIME), so
every 8-bit part is re-encoded as quoted-printable (text) or base64.
"""

from __future__ import annotations

import base64
import quopri
from io import BytesIO
from email.generator import BytesGenerator
from email.message import Message

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


def raw_message_bytes(email_message, remove_headers: tuple[str, ...] = ()) -> bytes:
    """The MIME bytes of a Django ``EmailMessage``: 7-bit, CRLF, no Bcc."""
    message = email_message.message()  # Also validates the headers.
    for name in ("Bcc", *remove_headers):
        del message[name]
    to_7bit(message)
    buffer = BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=message.policy).flatten(
        message, linesep="\r\n"
    )
    return buffer.getvalue()
