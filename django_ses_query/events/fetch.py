"""The one outgoing HTTP request of SES events: a ``GET`` of a URL already
checked by ``certificates`` (a signing certificate, its issuer, a
subscription to confirm).

Trusts nothing in the answer: redirects are not followed, the body is capped
(``Content-Length`` first, then as it streams) and must arrive before the
deadline. Plain values in (URL, timeout, byte cap), plain values out: an
:class:`Answer` of any status, or a typed failure, :class:`Transient` (the
host may answer later: timeout; refused, reset or dropped connection; a proxy
refusing ``CONNECT``; DNS; TLS) or :class:`Permanent` (it will not: the body
is over the cap). Whether a status means "later" is :func:`transient_status`.

The request goes through the transport (``transport/endpoint.py``), as every
AWS call does: proxies and CA bundle from the environment (``HTTPS_PROXY``,
``HTTP_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``...)
for the URL, exactly as for the SES client. Failure texts name the kind of
failure and its root cause, never the proxy's credentials.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..logsafe import escaped, shown

CHUNK_BYTES = 4096


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class FetchFailed(Exception):
    """No usable answer."""


class Transient(FetchFailed):
    """Nothing to blame the URL for: try again later."""


class Permanent(FetchFailed):
    """The answer is unusable, and will be again."""


def transient_status(status: int) -> bool:
    """A status after which the same GET may succeed: 5xx, 429, 408."""
    return status >= 500 or status in (408, 429)


def get(url: str, *, timeout: float, max_bytes: int) -> Answer:
    """``GET url`` through the transport: the status, headers and body (at
    most ``max_bytes``), within about ``timeout`` seconds."""
    from ..exceptions import SESError, SESTransportError
    from ..transport.endpoint import Endpoint

    deadline = time.monotonic() + timeout
    try:
        with Endpoint(url, timeout=timeout, service="the host") as endpoint:
            answer = endpoint.request("GET", b"", {}, max_bytes=max_bytes, deadline=deadline)
    except SESTransportError as error:
        cause = error.__cause__
        detail = _root(cause) if cause is not None else escaped(error.code or "", 100)
        what = (error.message or "").split(";")[0]
        raise Transient(f"GET {shown(url)} failed: {what} ({detail})") from None
    except SESError as error:
        if error.code == "AnswerTooLarge":
            raise Permanent(f"the answer of {shown(url)} is larger than {max_bytes} bytes") from None
        raise Permanent(f"GET {shown(url)} was refused before it was sent ({error.code})") from None
    except OSError as error:
        # An unreadable CA bundle.
        raise Transient(f"GET {shown(url)} failed ({_root(error)})") from None
    return Answer(answer.status, answer.content, dict(answer.headers))


def _root(error: BaseException) -> str:
    """The innermost cause of a requests/urllib3 error, on one line. Its own
    text, not the wrappers' (which may quote a proxy URL)."""
    seen = set()
    while id(error) not in seen:
        seen.add(id(error))
        inner = getattr(error, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((a for a in reversed(error.args) if isinstance(a, BaseException)), None)
        if inner is None:
            inner = error.__cause__ or error.__context__
        if inner is None:
            break
        error = inner
    text = " ".join(str(a) for a in error.args if not isinstance(a, BaseException) and not _is_object(a))
    return escaped(f"{type(error).__name__}: {text}" if text else type(error).__name__, 300)


def _is_object(value) -> bool:
    # urllib3 puts the connection object first: "<...HTTPSConnection object at 0x...>".
    return not isinstance(value, (str, int, float))
