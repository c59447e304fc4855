"""A received message's bytes → the values ``InboundEmail`` keeps.

Trusts nothing in the message: it is hostile input. Checks, before the
standard library parses it (``BytesParser``, policy ``default``), how deep
it nests and how many parts it has (``structure``): past 100 levels or
1,000 parts only the top-level headers are parsed. Every header is read by
``headers`` (never raising); every body part is decoded from its own bytes:
base64 and quoted-printable as far as they go, then its charset (an unknown
one as UTF-8 with replacement). Nothing here raises for any input; each
thing that had to be worked around is named in ``problems``. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser

from . import headers as headerlib
from .structure import MAX_PARTS, scan

_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")
_BAD_QP = re.compile(rb"=(?![0-9A-Fa-f]{2}|[ \t]*\r?\n|[ \t]*\Z)")
_HEADER_NAME = re.compile(r"[!-9;-~]{1,200}\Z")
_LINE_BREAKS = re.compile(r"[\r\n]+")
_BLANK_LINE = re.compile(rb"\r?\n[ \t]*\r?\n|\r\r")
_LINE = re.compile(r"\r\n|\r|\n")
MAX_HEADER_LINES = 10_000


@dataclass
class Parsed:
    message: EmailMessage
    from_email: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    subject: str = ""
    message_id_header: str = ""
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    text_body: str = ""
    html_body: str = ""
    attachments: list[dict] = field(default_factory=list)
    headers: list[list[str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _parser() -> BytesParser:
    return BytesParser(_class=EmailMessage, policy=headerlib.POLICY)


def parse_message(raw: bytes) -> Parsed:
    """Everything kept of the message ``raw``; never raises."""
    problems: list[str] = []
    structure = scan(raw)
    message = None
    if structure.too_complex:
        problems.append(f"{structure.too_complex}: only the top-level headers were parsed")
    else:
        try:
            message = _parser().parsebytes(raw)
        except Exception:  # RecursionError included: a structure the scan did not see.
            problems.append("the message could not be parsed: only the top-level headers were")
    if message is None:
        message = _headers_only(raw, problems)
        parsed = _read_headers(message, problems)
    else:
        parsed = _read_headers(message, problems)
        try:
            _read_parts(message, parsed)
        except Exception:  # A safety net: each step below already guards itself.
            problems.append("the body could not be read past the parts above")
    return parsed


def parse_headers(pairs: list[tuple[str, str]]) -> Parsed:
    """A message holding only these headers (from the notification, when the
    message itself was not fetched)."""
    lines = []
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str) or not _HEADER_NAME.match(name):
            continue
        lines.append(name + ": " + _LINE_BREAKS.sub(" ", value))
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    problems: list[str] = []
    return _read_headers(_headers_only(raw, problems), problems)


def _headers_only(raw: bytes, problems: list[str]) -> EmailMessage:
    """A message holding the top-level headers of ``raw``, read without the
    parser (whose end looks at Content-Type, which may not parse)."""
    message = EmailMessage(policy=headerlib.POLICY)
    head = _BLANK_LINE.split(raw, 1)[0].decode("ascii", "surrogateescape")
    fields: list[list[str]] = []
    lines = _LINE.split(head)
    if len(lines) > MAX_HEADER_LINES:
        problems.append(f"only the first {MAX_HEADER_LINES} header lines were read")
    for line in lines[:MAX_HEADER_LINES]:
        if line[:1] in (" ", "\t") and fields:
            fields[-1].append(line + "\r\n")
        elif ":" in line and line.split(":", 1)[0].strip():
            fields.append([line + "\r\n"])
    for field_lines in fields:
        try:
            message.set_raw(*headerlib.POLICY.header_source_parse(field_lines))
        except Exception:
            continue
    return message


def _read_headers(message: EmailMessage, problems: list[str]) -> Parsed:
    parsed = Parsed(message=message, problems=problems)
    items = headerlib.header_items(message, problems)
    parsed.headers = [[name, str(value)] for name, value in items]
    by_name: dict[str, list] = {}
    for name, value in items:
        by_name.setdefault(name.lower(), []).append(value)
    parsed.from_email = ", ".join(headerlib.addresses(by_name.get("from", [])))
    parsed.to = headerlib.addresses(by_name.get("to", []))
    parsed.cc = headerlib.addresses(by_name.get("cc", []))
    parsed.reply_to = headerlib.addresses(by_name.get("reply-to", []))
    parsed.subject = str(by_name.get("subject", [""])[0])
    ids = headerlib.message_ids(str(by_name.get("message-id", [""])[0]))
    parsed.message_id_header = ids[0] if ids else ""
    parsed.in_reply_to = headerlib.message_ids(" ".join(str(v) for v in by_name.get("in-reply-to", [])))
    parsed.references = headerlib.message_ids(" ".join(str(v) for v in by_name.get("references", [])))
    return parsed


def _leaves(message: EmailMessage, problems: list[str]):
    """The parts that hold content, in order; a ``message/*`` part is one
    leaf (an attached message), not walked into."""
    stack, count = [message], 0
    while stack:
        part = stack.pop()
        count += 1
        if count > MAX_PARTS:
            problems.append(f"only the first {MAX_PARTS} parts were read")
            return
        if part.is_multipart() and _safe(part.get_content_maintype, "") == "multipart":
            stack.extend(reversed(part.get_payload()))
        else:
            yield part


def _safe(call, default):
    try:
        return call()
    except Exception:
        return default


def _read_parts(message: EmailMessage, parsed: Parsed) -> None:
    problems = parsed.problems
    for number, part in enumerate(_leaves(message, problems), start=1):
        content_type = _safe(part.get_content_type, "application/octet-stream")
        filename = _safe(part.get_filename, None)
        disposition = _safe(part.get_content_disposition, None)
        data = _payload_bytes(part, number, content_type, problems)
        is_body = (
            disposition != "attachment" and not filename
            and content_type in ("text/plain", "text/html")
        )
        if is_body and content_type == "text/plain" and not parsed.text_body:
            parsed.text_body = _text(part, data, number, problems)
        elif is_body and content_type == "text/html" and not parsed.html_body:
            parsed.html_body = _text(part, data, number, problems)
        elif not (is_body and content_type.startswith("text/")):
            name = headerlib.readable(str(filename)) if filename else ""
            parsed.attachments.append({"filename": name, "content_type": content_type, "size": len(data)})


def _payload_bytes(part: EmailMessage, number: int, content_type: str, problems: list[str]) -> bytes:
    """The part's content, transfer-decoded as far as it goes."""
    if part.is_multipart():  # An attached message: its bytes as they came.
        inner = part.get_payload()
        return _safe(lambda: inner[0].as_bytes(policy=headerlib.POLICY.clone(max_line_length=0)), b"")
    encoding = str(_safe(lambda: part.get("content-transfer-encoding", ""), "")).strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        # 7bit, 8bit, binary: the bytes as they came.
        data = _safe(lambda: part.get_payload(decode=True), b"")
        return data if isinstance(data, bytes) else b""
    payload = part.get_payload()
    if not isinstance(payload, str):
        return b""
    # Both encodings are ASCII: anything else in them is not content.
    data = payload.encode("utf-8", "replace")
    if encoding == "base64":
        decoded, broken = decode_base64(data)
        if broken:
            problems.append(f"part {number} ({content_type}): broken base64, decoded as far as it goes")
        return decoded
    if encoding == "quoted-printable":
        if _BAD_QP.search(data):
            problems.append(f"part {number} ({content_type}): broken quoted-printable, decoded as far as it goes")
        return quopri.decodestring(data)
    return data


def decode_base64(data: bytes) -> tuple[bytes, bool]:
    """Base64 decoded; broken base64 (bad characters, cut short, a lone
    last character) as far as it goes. True when it was broken."""
    cleaned = _NOT_BASE64.sub(b"", data)
    broken = len(cleaned) != len(b"".join(data.split()))
    core = cleaned.split(b"=", 1)[0]
    if len(core) % 4 == 1:
        core, broken = core[:-1], True
    padded = core + b"=" * (-len(core) % 4)
    if padded != cleaned:
        broken = True
    try:
        return base64.b64decode(padded), broken
    except (binascii.Error, ValueError):
        return b"", True


def _text(part: EmailMessage, data: bytes, number: int, problems: list[str]) -> str:
    charset = _safe(part.get_content_charset, None)
    if isinstance(charset, str) and charset in ("us-ascii", "ascii"):
        charset = "utf-8"  # 8-bit text mislabelled ASCII is read as UTF-8.
    text, replaced = headerlib.decode_bytes(data, charset)
    if replaced:
        label = (charset or "utf-8")[:40]
        problems.append(f"part {number}: not decodable as {label!r}; decoded as UTF-8 with replacement")
    return text
