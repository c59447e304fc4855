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

#: The value of a key named like a secret, a token, a password or a session,
#: in JSON (``"SecretAccessKey": "..."``), ``key = value`` or ``key: value``
#: form. A quoted value keeps its quotes (and may lack the closing one, in
#: text that was cut); an unquoted one runs to a space, ``,``, ``;``, ``}``
#: or ``]``.
_SECRET_VALUE = re.compile(
    r"""(["']?[\w.-]*(?:secret|token|password|session)[\w.-]*["']?[ \t]*[:=][ \t]*)"""
    r"""(?:(")(?:[^"\\]|\\.)*("?)|(')(?:[^'\\]|\\.)*('?)|[^\s,;}\]]+)""",
    re.IGNORECASE,
)
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
    ``<redacted>``."""
    if not text:
        return text

    def value(match: re.Match) -> str:
        key, opening, closing = match.group(1), match.group(2) or match.group(4), match.group(3) or match.group(5)
        return f"{key}{opening or ''}{REDACTED}{closing or ''}"

    text = _SECRET_VALUE.sub(value, text)
    return _BASE64_RUN.sub(REDACTED, text)
