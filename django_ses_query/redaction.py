"""Secrets out of text that came from outside, before it is stored, logged
or raised.

Trusts nothing in the text it is given: SES's error messages (a real
``SignatureDoesNotMatch`` message quotes the canonical request it computed,
every signed header included, so ``x-amz-security-token:<token>`` comes back
in SES's own words), transport error texts (requests quotes a header value it
refuses), a receiver's exception, what a ``credential_process`` printed on
stderr. :func:`redact` checks for the session token line or parameter, any
``Signature=`` value, and the secret key and session token given, wherever
they appear. :func:`redact_unknown_secrets` is for text that may hold
secrets nobody can name in advance (a helper program echoing its own JSON):
it checks for the values of keys named like secrets and for long base64 runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "<redacted>"

#: ``x-amz-security-token:<token>`` (a canonical request's header line) or
#: ``X-Amz-Security-Token=<token>`` (a presigned URL), and ``Signature=<hex>``
#: (an Authorization header) or ``X-Amz-Signature=<hex>``.
_PATTERNS = (
    re.compile(r"(x-amz-security-token\s*[:=]\s*)[^\s'\"&,;<>]+", re.IGNORECASE),
    re.compile(r"(signature\s*=\s*)[^\s'\"&,;<>]+", re.IGNORECASE),
)
#: Shorter values are not searched for: they would match ordinary text.
_MIN_SECRET_LENGTH = 8

#: A key and what separates it from its value: JSON (``"SecretAccessKey": ``),
#: ``key = `` or ``key: ``. Only at the start of a word (so a long word is
#: tried once, not from each of its characters).
_KEY = re.compile(r"""(?<![\w.-])["']?([\w.-]+)["']?[ \t]*[:=][ \t]*""")
#: Keys whose value is hidden.
_SECRET_NAME = re.compile("secret|token|password|session", re.IGNORECASE)
#: A value: quoted (the closing quote may be missing, in text that was cut),
#: or running to a space, ``,``, ``;``, ``}`` or ``]``.
_VALUE = re.compile(r"""(")(?:[^"\\]|\\.)*("?)|(')(?:[^'\\]|\\.)*('?)|[^\s,;}\]]+""")
#: A run of base64 this long is a key, a token or a signature, not words.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with the token lines, signatures and ``secrets`` replaced by
    ``<redacted>``."""
    if not text:
        return text
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED)
            stripped = secret.strip()
            if stripped != secret and len(stripped) >= _MIN_SECRET_LENGTH:
                text = text.replace(stripped, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return text


def redact_unknown_secrets(text: str) -> str:
    """``text`` with the values of keys named like secret, token, password or
    session, and every run of 40 or more base64 characters, replaced by
    ``<redacted>`` (a quoted value keeps its quotes)."""
    if not text:
        return text
    parts, done = [], 0
    for key in _KEY.finditer(text):
        if key.start() < done or not _SECRET_NAME.search(key.group(1)):
            continue
        value = _VALUE.match(text, key.end())
        if value is None:
            continue
        opening, closing = value.group(1) or value.group(3) or "", value.group(2) or value.group(4) or ""
        parts.append(f"{text[done:key.end()]}{opening}{REDACTED}{closing}")
        done = value.end()
    parts.append(text[done:])
    return _BASE64_RUN.sub(REDACTED, "".join(parts))
