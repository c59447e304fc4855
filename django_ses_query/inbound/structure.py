"""How deep a MIME message nests and how many parts it has, found before
the standard library parses it (its parser recurses once per level: a
thousand levels raise ``RecursionError`` after seconds of work).

Trusts nothing in the bytes. Reads them line by line as the standard
library's feed parser splits them: header blocks, ``multipart/*``
boundaries (each enclosing boundary ends a part, as there), and
``message/*`` bodies (a message inside a part is one level more). Stops as
soon as a limit is passed. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_DEPTH = 100
MAX_PARTS = 1000
#: Header lines kept per block while looking for Content-Type.
_MAX_HEADER_LINES = 2000

_CONTENT_TYPE = re.compile(rb"content-type[ \t]*:(.*)", re.IGNORECASE | re.DOTALL)
_BOUNDARY = re.compile(rb"""boundary\*?[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))""", re.IGNORECASE)
_WS = b" \t"


@dataclass
class Structure:
    depth: int = 0
    parts: int = 1
    #: Why parsing must stop ("" when it may go on).
    too_complex: str = ""


def _content_type(lines: list[bytes]) -> bytes:
    value = None
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if value is not None:
                value += b" " + line.strip(_WS)
            continue
        if value is not None:
            break
        match = _CONTENT_TYPE.match(line)
        if match:
            value = match.group(1).strip(_WS)
    return value or b""


def _opens(lines: list[bytes]) -> tuple[str, bytes]:
    """("multipart", boundary), ("message", b"") or ("", b"")."""
    value = _content_type(lines)
    kind = value.split(b";", 1)[0].strip(_WS).lower()
    if kind.startswith(b"multipart/"):
        match = _BOUNDARY.search(value)
        if match:
            boundary = match.group(1) if match.group(1) is not None else match.group(2)
            return "multipart", boundary.replace(b"\\", b"").rstrip(_WS)
    elif kind.startswith(b"message/") and kind not in (b"message/delivery-status", b"message/external-body"):
        return "message", b""
    return "", b""


def scan(raw: bytes) -> Structure:
    """The nesting depth and number of parts, as far as the limits."""
    found = Structure()
    stack: list[bytes | None] = []  # a boundary per open multipart, None per message level
    in_headers = True
    headers: list[bytes] = []
    for line in raw.split(b"\n"):
        line = line.rstrip(b"\r")
        if in_headers:
            if line.strip(_WS) and len(headers) < _MAX_HEADER_LINES:
                headers.append(line)
                continue
            if line.strip(_WS):
                continue
            kind, boundary = _opens(headers)
            headers = []
            in_headers = kind == "message"
            if kind:
                stack.append(boundary if kind == "multipart" else None)
                found.depth = max(found.depth, len(stack))
                if found.depth > MAX_DEPTH:
                    found.too_complex = f"the message nests more than {MAX_DEPTH} levels deep"
                    return found
            continue
        if not line.startswith(b"--") or not stack:
            continue
        for index in range(len(stack) - 1, -1, -1):
            boundary = stack[index]
            if boundary is None or not line.startswith(b"--" + boundary):
                continue
            rest = line[2 + len(boundary):]
            if rest.startswith(b"--") and not rest[2:].strip(_WS):
                del stack[index:]  # The closing delimiter.
                break
            if not rest.strip(_WS):
                del stack[index + 1:]
                found.parts += 1
                if found.parts > MAX_PARTS:
                    found.too_complex = f"the message has more than {MAX_PARTS} parts"
                    return found
                in_headers = True
                break
    return found
