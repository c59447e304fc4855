"""Secrets out of text that came from outside, before it is stored, logged
or raised.

Trusts nothing in the text it is given: SES's error messages (a real
``SignatureDoesNotMatch`` message quotes the canonical request it computed,
every signed header included, so ``x-amz-security-token:<token>`` comes back
in SES's own words), transport error texts (requests quotes a header value it
refuses), a receiver's exception. Checks for the session token line or
parameter, any ``Signature=`` value, and the secret key and session token
given, wherever they appear.
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
