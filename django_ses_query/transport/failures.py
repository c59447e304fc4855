"""Classifying a failed request: *not sent* (nothing of it was written, so
trying again cannot send twice) or *outcome unknown* (it was written: the
service may have acted on it).

``state`` is what the tracked connection recorded (see ``adapter``).
"""

from __future__ import annotations

import http.client
import socket
import ssl

import requests
import urllib3

from ..exceptions import SESTransportError
from .adapter import NOT_WRITTEN



# urllib3 2 wraps DNS failures in NameResolutionError (urllib3 1.26: a
# NewConnectionError around socket.gaierror).
NAME_RESOLUTION_ERRORS = tuple(
    filter(None, [getattr(urllib3.exceptions, "NameResolutionError", None)])
)


def causes(error: BaseException):
    """``error`` and what it wraps (requests → urllib3 → OSError...)."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, urllib3.exceptions.MaxRetryError):
            stack.append(current.reason)
        stack.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
        stack.append(current.__cause__)
        stack.append(current.__context__)


def has_cause(error: BaseException, *kinds: type[BaseException]) -> bool:
    return any(isinstance(cause, kinds) for cause in causes(error))


def socket_error(error: BaseException) -> bool:
    """Whether a socket error (reset, broken pipe...) is among the causes
    (requests' own exceptions are OSErrors too: they do not count)."""
    return any(
        isinstance(cause, OSError) and not isinstance(cause, requests.RequestException)
        for cause in causes(error)
    )


def shorten(error: BaseException) -> str:
    text = str(error)
    return text if len(text) <= 300 else text[:300] + "…"


def not_sent(error: requests.RequestException, service: str = "SES") -> SESTransportError:
    if has_cause(error, socket.gaierror, *NAME_RESOLUTION_ERRORS):
        code, what = "NameResolutionError", f"Could not resolve {service}'s host name"
    elif isinstance(error, requests.Timeout):
        # A connect timeout, or (HTTPS) a TLS handshake that timed out, which
        # urllib3 reports as a read timeout.
        code, what = "ConnectTimeout", f"Timed out connecting to {service}"
    elif has_cause(error, ConnectionRefusedError):
        code, what = "ConnectionRefused", f"{service}'s endpoint refused the connection"
    elif isinstance(error, requests.exceptions.SSLError):
        code, what = "SSLError", f"The TLS handshake with {service} failed"
    else:
        code, what = "ConnectionError", f"Could not connect to {service}"
    return SESTransportError(f"{what}; nothing was sent: {shorten(error)}", code=code)


def unknown_outcome(
    error: requests.RequestException, http_status: int | None = None, service: str = "SES"
) -> SESTransportError:
    unknown = "the outcome is unknown (the message may have been sent)"
    if isinstance(error, requests.ReadTimeout):
        code, what = "ReadTimeout", f"Timed out waiting for {service}'s answer after the request was sent"
    elif http_status is not None:
        code, what = "IncompleteResponse", f"The connection broke while reading {service}'s HTTP {http_status} answer"
    elif has_cause(error, http.client.RemoteDisconnected):
        # One code for every broken connection after sending: the row's
        # error_code says "unknown outcome"; the message says how it broke.
        code, what = "ConnectionReset", "The connection was closed without an answer after the request was sent"
    elif isinstance(error, requests.exceptions.SSLError):
        code, what = "SSLError", "TLS failed after the request was sent"
    elif has_cause(error, http.client.HTTPException, urllib3.exceptions.HTTPError) and not socket_error(error):
        # Not HTTP (a bad status line, conflicting headers...).
        code, what = "InvalidHTTPResponse", f"{service}'s answer was not valid HTTP"
    else:
        code, what = "ConnectionReset", "The connection broke after the request was sent"
    return SESTransportError(
        f"{what}; {unknown}: {shorten(error)}", code=code, sent=True, http_status=http_status
    )


def classify(
    error: requests.RequestException,
    state: str | None = None,
    http_status: int | None = None,
    service: str = "SES",
) -> SESTransportError:
    """Classify a requests exception: could the request have reached ``service``?

    ``state`` is what the connection recorded (:data:`NOT_WRITTEN`,
    :data:`WRITTEN`, or None when no tracked connection was involved);
    ``http_status`` is set when the failure came while reading the body of
    an answer: unknown outcome for a success, not sent for an error.
    """
    if http_status is None:
        if state == NOT_WRITTEN:
            return not_sent(error, service)
        # Failures urllib3 only raises while opening a connection.
        if isinstance(error, requests.ConnectTimeout) or has_cause(error, urllib3.exceptions.NewConnectionError):
            return not_sent(error, service)
        if state is None and isinstance(error, requests.exceptions.SSLError) and has_cause(error, ssl.SSLCertVerificationError):
            return not_sent(error, service)
    elif not 200 <= http_status < 300:
        # The service answered with an error whose body broke off: not sent.
        return SESTransportError(
            f"The connection broke while reading {service}'s HTTP {http_status} error answer; "
            f"the message was not sent: {shorten(error)}",
            code="IncompleteResponse",
            http_status=http_status,
        )
    return unknown_outcome(error, http_status, service)
