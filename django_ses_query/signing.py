"""AWS Signature Version 4 for requests to the SES Query API.

Each stage of the signing process (canonical request, string to sign, signing
key, signature, Authorization header) is a function of its own, so it can be
checked against AWS's test suite; :func:`sign` runs them all for one request.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Protocol, TypeAlias
from urllib.parse import SplitResult, quote, unquote_to_bytes, urlsplit

from django.views.decorators.debug import sensitive_variables


class Credentials(Protocol):
    """What a signature needs of AWS credentials (any object with these)."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None


ALGORITHM = "AWS4-HMAC-SHA256"

#: Headers as a mapping, or as (name, value) pairs when a name repeats.
HeaderItems: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]

_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# sign() sets these itself; copies passed in would be stale on a retry.
_SET_BY_SIGN = frozenset({"authorization", "x-amz-date", "x-amz-security-token"})
# SigV4's "trimall": SP and HTAB, plus the CR/LF left in folded header lines.
_HEADER_WHITESPACE = re.compile(r"[ \t\r\n]+")
_REDACTED = "<redacted>"
_SIGNATURE_VALUE = re.compile(r"(Signature=)[^,\s]*")


def canonical_uri(path: str, *, service: str = "") -> str:
    """The path, URI-encoded with ``/`` kept.

    Services other than S3 encode the path as it is sent, so a path that is
    already percent-encoded is encoded a second time (``%`` becomes ``%25``).
    S3 signs the path as it is sent (encoded once, by :func:`s3_path`).
    """
    if service == "s3":
        return path or "/"
    return quote(path or "/", safe="/~")


def s3_path(*segments: str) -> str:
    """``/segment/segment``, each RFC 3986-encoded once as S3 expects (a
    space is ``%20``, ``+`` is ``%2B``; ``/`` inside a key is kept)."""
    return "".join("/" + quote(segment.encode("utf-8", "surrogatepass"), safe="/~") for segment in segments)


def canonical_query_string(query: str) -> str:
    """The query string with each name and value RFC 3986-encoded, sorted.

    Names and values are decoded first so that ``%E1%88%B4`` and the raw
    character give the same result. ``+`` means a plus sign, not a space.
    """
    pairs = []
    for parameter in query.split("&"):
        if not parameter:
            continue
        name, _, value = parameter.partition("=")
        pairs.append((_uri_encode(name), _uri_encode(value)))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def canonical_headers(headers: HeaderItems) -> str:
    """One ``name:value`` line per header name, each ending with a newline."""
    return "".join(f"{name}:{value}\n" for name, value in _header_values(headers))


def signed_headers(headers: HeaderItems) -> str:
    """The lower-cased header names, sorted and joined with ``;``."""
    return ";".join(name for name, _ in _header_values(headers))


def canonical_request(
    method: str, path: str, query: str, headers: HeaderItems, payload_hash: str, *, service: str = ""
) -> str:
    return _canonical_request(method, path, query, _header_values(headers), payload_hash, service)


def _canonical_request(
    method: str, path: str, query: str, values: list[tuple[str, str]], payload_hash: str, service: str = ""
) -> str:
    """The canonical request from the headers' :func:`_header_values`."""
    return "\n".join(
        [
            method,
            canonical_uri(path, service=service),
            canonical_query_string(query),
            "".join(f"{name}:{value}\n" for name, value in values),
            ";".join(name for name, _ in values),
            payload_hash,
        ]
    )


def credential_scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/aws4_request"


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    return "\n".join([ALGORITHM, amz_date, scope, _sha256_hex(canonical_request.encode("utf-8"))])


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


#: :func:`signing_key`, remembered for a few (secret, date, region, service):
#: the key changes once a day. Neither the cache's repr nor its statistics
#: show the arguments.
_cached_signing_key = functools.lru_cache(maxsize=16)(signing_key)


def signature(key: bytes, string_to_sign: str) -> str:
    return hmac.digest(key, string_to_sign.encode("utf-8"), "sha256").hex()


def authorization_header(
    access_key_id: str, scope: str, signed_headers: str, signature: str
) -> str:
    return (
        f"{ALGORITHM} Credential={access_key_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


@sensitive_variables()  # The signing key, the token, the Authorization.
def sign(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    service: str = "ses",
    timestamp: datetime | None = None,
) -> dict[str, str]:
    """Return a copy of ``headers`` with ``Host``, ``X-Amz-Date``,
    ``X-Amz-Security-Token`` (with temporary credentials) and ``Authorization``.

    Every header given is signed. A ``Host`` given is kept (it is what will be
    sent); otherwise it comes from ``url``. A naive ``timestamp`` is taken as UTC.
    For service ``s3``, ``X-Amz-Content-SHA256`` (the body's hash) is added
    and signed, and the URL's path is signed as it is (see :func:`s3_path`).
    """
    if not credentials.access_key_id or not credentials.secret_access_key:
        raise ValueError(
            "cannot sign the request: the credentials need both an access key id "
            "and a secret access key"
        )
    parts = urlsplit(url)
    amz_date = _utc(timestamp).strftime(_TIMESTAMP_FORMAT)
    date = amz_date[:8]

    result = {name: value for name, value in headers.items() if name.lower() not in _SET_BY_SIGN}
    if not any(name.lower() == "host" for name in result):
        result["Host"] = _host(parts)
    result["X-Amz-Date"] = amz_date
    if credentials.session_token:
        result["X-Amz-Security-Token"] = credentials.session_token
    payload_hash = _sha256_hex(body)
    if service == "s3":
        given = [value for name, value in result.items() if name.lower() == "x-amz-content-sha256"]
        if given:
            payload_hash = given[0]  # UNSIGNED-PAYLOAD, say.
        else:
            result["X-Amz-Content-SHA256"] = payload_hash

    scope = credential_scope(date, region, service)
    values = _header_values(result)
    request = _canonical_request(
        # requests sends the method upper-cased.
        method.upper(),
        parts.path,
        parts.query,
        values,
        payload_hash,
        service,
    )
    key = _cached_signing_key(credentials.secret_access_key, date, region, service)
    result["Authorization"] = authorization_header(
        credentials.access_key_id,
        scope,
        ";".join(name for name, _ in values),
        signature(key, string_to_sign(amz_date, scope, request)),
    )
    return result


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of signed headers that is safe to print or log."""
    redacted = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname == "authorization":
            value = _SIGNATURE_VALUE.sub(rf"\g<1>{_REDACTED}", value)
        elif lname == "x-amz-security-token":
            value = _REDACTED
        redacted[name] = value
    return redacted


def _header_values(headers: HeaderItems) -> list[tuple[str, str]]:
    """Sorted (lower-cased name, canonical value) pairs, one per name."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    values: dict[str, list[str]] = {}
    for name, value in items:
        trimmed = _HEADER_WHITESPACE.sub(" ", value).strip(" ")
        values.setdefault(name.strip().lower(), []).append(trimmed)
    # A repeated header is signed as one, its values in the order sent.
    return [(name, ",".join(values[name])) for name in sorted(values)]


def _host(parts: SplitResult) -> str:
    """The Host header that requests (through http.client) sends for a URL."""
    host = parts.hostname
    if not host:
        raise ValueError("cannot sign the request: the endpoint URL has no host")
    if not host.isascii():
        raise ValueError(
            "cannot sign the request: write the endpoint host in its ASCII (punycode) form"
        )
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    return host


def _utc(timestamp: datetime | None) -> datetime:
    if timestamp is None:
        return datetime.now(timezone.utc)
    if timestamp.tzinfo is None:
        return timestamp.replace(tzinfo=timezone.utc)
    return timestamp.astimezone(timezone.utc)


def _uri_encode(text: str) -> str:
    return quote(unquote_to_bytes(text), safe="-_.~")


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.digest(key, message.encode("utf-8"), "sha256")
