"""HTTP: one signed POST per Query API call, over a keep-alive session.

Retries throttling ("Maximum sending rate exceeded."), 5xx answers and
connection failures that happened before the request was sent, with
exponential backoff and full jitter, within ``MAX_RETRIES`` and a total
time budget (``RETRY_BUDGET``). A failure after the request was sent (a read
timeout, a reset, the connection closed without an answer) is an unknown
outcome: SES may have sent the message, so it is not resent unless
``RETRY_UNKNOWN_OUTCOME`` is on.

Whether any byte of the request was written is tracked on the connection
itself (see :class:`_SendTracking`): the exception alone cannot tell, since
urllib3 reports a reset during a TLS handshake exactly like a reset after the
request was sent. A pooled keep-alive connection that the server closed while
it was idle is noticed by urllib3 when it is taken from the pool (the socket
reads EOF) and replaced before anything is written, so it never surfaces as
an error. What cannot be told apart is the server closing an idle connection
at the very moment a request is written to it: the client sees the same
"closed without an answer" as when a server reads a request and then drops the
connection, so that stays an unknown outcome.
"""

from __future__ import annotations

import http.client
import logging
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import __version__, query
from .conf import Config, endpoint_url_problem, unsafe_credential_names
from .exceptions import (
    SESConfigurationError,
    SESError,
    SESQuotaExceededError,
    SESTransportError,
)
from .ratelimit import CacheRateLimiter, lowest_rate, shared_bucket
from .responses import Result, parse_error, parse_result, parse_send_result
from .signing import sign

logger = logging.getLogger("django_ses_query")

USER_AGENT = f"django-ses-query/{__version__}"
BACKOFF_BASE = 0.1  # seconds
BACKOFF_CAP = 5.0  # seconds
SEND_ACTIONS = frozenset({"SendEmail", "SendRawEmail"})
#: SES's answer to temporary credentials that expired: refresh, try once more.
EXPIRED_TOKEN_CODES = frozenset({"ExpiredToken", "ExpiredTokenException"})
#: After a failed GetSendQuota, send without a rate limit for this long
#: before asking again.
QUOTA_RETRY_INTERVAL = 300.0  # seconds

_quota_rates: dict[tuple, tuple[float | None, float | None]] = {}
_quota_lock = threading.Lock()  # Guards _quota_locks only: held for no I/O.
_quota_locks: dict[tuple, threading.Lock] = {}


def _quota_lock_for(key: tuple) -> threading.Lock:
    with _quota_lock:
        return _quota_locks.setdefault(key, threading.Lock())


@dataclass
class Response:
    result: Result
    attempts: int
    duration_ms: int


def backoff_ceiling(attempt: int) -> float:
    """The longest wait after failed attempt number ``attempt`` (1-based)."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))


def full_jitter(ceiling: float) -> float:
    """Full jitter: a uniformly random wait between 0 and ``ceiling``."""
    return random.uniform(0, ceiling)


# --------------------------------------------------------------------------
# Was the request written? Tracked by the connection, per thread.
# --------------------------------------------------------------------------

#: ``state`` for the request being made on this thread: None (no tracked
#: connection was involved), NOT_WRITTEN (a tracked connection connected or
#: started the request, but wrote nothing of it) or WRITTEN.
_wire = threading.local()
NOT_WRITTEN = "not written"
WRITTEN = "written"
#: Bodies up to this size are written together with the request's headers.
JOINED_BODY_MAX = 64 * 1024


class _SendTracking:
    """Mixin for urllib3's connections: records on :data:`_wire` whether
    any byte of the request left, so a failure can be classified exactly.

    Connecting (TCP, a proxy's CONNECT, the TLS handshake) writes nothing of
    the request. http.client connects lazily from ``send()`` on plain HTTP,
    so ``send()`` connects first, then marks the request as written.

    A body of bytes with a Content-Length, up to :data:`JOINED_BODY_MAX`
    bytes, goes out in the same write as the headers (http.client and
    urllib3 write them apart): one system call and one packet less per
    request, the same bytes on the wire. A larger body is written on its
    own, rather than copied.
    """

    _ses_connecting = False
    _ses_body: bytes | None = None  # to write with the header block
    _ses_skip = 0  # bytes of the body already written with the headers

    def connect(self) -> None:
        if getattr(_wire, "state", None) is None:
            _wire.state = NOT_WRITTEN
        self._ses_connecting = True
        try:
            super().connect()  # type: ignore[misc]
        finally:
            self._ses_connecting = False

    def request(self, method, url, body=None, headers=None, **kwargs):
        if getattr(_wire, "state", None) is None:
            _wire.state = NOT_WRITTEN
        framed = headers is not None and any(name.lower() == "content-length" for name in headers)
        if isinstance(body, bytes) and 0 < len(body) <= JOINED_BODY_MAX and framed and not kwargs.get("chunked"):
            self._ses_body = body
        self._ses_skip = 0
        try:
            return super().request(method, url, body=body, headers=headers, **kwargs)  # type: ignore[misc]
        finally:
            self._ses_body, self._ses_skip = None, 0

    def send(self, data) -> None:
        if not self._ses_connecting:
            if self.sock is None:  # type: ignore[attr-defined]
                self.connect()
            _wire.state = WRITTEN
            if self._ses_skip:  # the body, already written with the headers
                self._ses_skip -= len(data)
                return
            if self._ses_body is not None:  # the header block: the body joins it
                data, self._ses_skip, self._ses_body = data + self._ses_body, len(self._ses_body), None
        super().send(data)  # type: ignore[misc]


class _TrackedHTTPConnection(_SendTracking, HTTPConnection):
    pass


class _TrackedHTTPSConnection(_SendTracking, HTTPSConnection):
    pass


class _TrackedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


_TRACKED_POOLS = {"http": _TrackedHTTPConnectionPool, "https": _TrackedHTTPSConnectionPool}


class _TrackingAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections (direct, or through an HTTP proxy)
    track whether the request was written. Other proxies (SOCKS) are not
    tracked; failures through them are classified by exception type."""

    # (key, value) of the last lookup: one client calls one endpoint with the
    # same TLS settings and proxies every time, so each is worked out once.
    _ses_pool: tuple | None = None
    _ses_url: tuple | None = None

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_TRACKED_POOLS)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        key = (request.url, verify, cert, tuple(proxies.items()) if proxies else ())
        cached = self._ses_pool
        if cached is None or cached[0] != key:
            pool = super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
            self._ses_pool = cached = (key, pool)
        return cached[1]

    def request_url(self, request, proxies):
        key = (request.url, tuple(proxies.items()) if proxies else ())
        cached = self._ses_url
        if cached is None or cached[0] != key:
            self._ses_url = cached = (key, super().request_url(request, proxies))
        return cached[1]

    def close(self) -> None:
        self._ses_pool = self._ses_url = None
        super().close()

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:
            manager.pool_classes_by_scheme = dict(_TRACKED_POOLS)
        return manager


# --------------------------------------------------------------------------
# Classifying transport failures
# --------------------------------------------------------------------------


# urllib3 2 wraps DNS failures in NameResolutionError (urllib3 1.26: a
# NewConnectionError around socket.gaierror).
_NAME_RESOLUTION_ERRORS = tuple(
    filter(None, [getattr(urllib3.exceptions, "NameResolutionError", None)])
)


def _causes(error: BaseException):
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


def _has(error: BaseException, *kinds: type[BaseException]) -> bool:
    return any(isinstance(cause, kinds) for cause in _causes(error))


def _socket_error(error: BaseException) -> bool:
    """Whether a socket error (reset, broken pipe...) is among the causes
    (requests' own exceptions are OSErrors too: they do not count)."""
    return any(
        isinstance(cause, OSError) and not isinstance(cause, requests.RequestException)
        for cause in _causes(error)
    )


def _short(error: BaseException) -> str:
    text = str(error)
    return text if len(text) <= 300 else text[:300] + "…"


def _not_sent(error: requests.RequestException) -> SESTransportError:
    if _has(error, socket.gaierror, *_NAME_RESOLUTION_ERRORS):
        code, what = "NameResolutionError", "Could not resolve SES's host name"
    elif isinstance(error, requests.Timeout):
        # A connect timeout, or (HTTPS) a TLS handshake that timed out, which
        # urllib3 reports as a read timeout.
        code, what = "ConnectTimeout", "Timed out connecting to SES"
    elif _has(error, ConnectionRefusedError):
        code, what = "ConnectionRefused", "SES's endpoint refused the connection"
    elif isinstance(error, requests.exceptions.SSLError):
        code, what = "SSLError", "The TLS handshake with SES failed"
    else:
        code, what = "ConnectionError", "Could not connect to SES"
    return SESTransportError(f"{what}; nothing was sent: {_short(error)}", code=code)


def _unknown_outcome(error: requests.RequestException, http_status: int | None = None) -> SESTransportError:
    unknown = "the outcome is unknown (the message may have been sent)"
    if isinstance(error, requests.ReadTimeout):
        code, what = "ReadTimeout", "Timed out waiting for SES's answer after the request was sent"
    elif http_status is not None:
        code, what = "IncompleteResponse", f"The connection broke while reading SES's HTTP {http_status} answer"
    elif _has(error, http.client.RemoteDisconnected):
        # One code for every broken connection after sending: the row's
        # error_code says "unknown outcome"; the message says how it broke.
        code, what = "ConnectionReset", "The connection was closed without an answer after the request was sent"
    elif isinstance(error, requests.exceptions.SSLError):
        code, what = "SSLError", "TLS failed after the request was sent"
    elif _has(error, http.client.HTTPException, urllib3.exceptions.HTTPError) and not _socket_error(error):
        # Not HTTP (a bad status line, conflicting headers...).
        code, what = "InvalidHTTPResponse", "SES's answer was not valid HTTP"
    else:
        code, what = "ConnectionReset", "The connection broke after the request was sent"
    return SESTransportError(
        f"{what}; {unknown}: {_short(error)}", code=code, sent=True, http_status=http_status
    )


def _transport_error(
    error: requests.RequestException, state: str | None = None, http_status: int | None = None
) -> SESTransportError:
    """Classify a requests exception: could the request have reached SES?

    ``state`` is what the connection recorded (:data:`NOT_WRITTEN`,
    :data:`WRITTEN`, or None when no tracked connection was involved);
    ``http_status`` is set when the failure came while reading the body of
    an answer: unknown outcome for a success, not sent for an error.
    """
    if http_status is None:
        if state == NOT_WRITTEN:
            return _not_sent(error)
        # Failures urllib3 only raises while opening a connection.
        if isinstance(error, requests.ConnectTimeout) or _has(error, urllib3.exceptions.NewConnectionError):
            return _not_sent(error)
        if state is None and isinstance(error, requests.exceptions.SSLError) and _has(error, ssl.SSLCertVerificationError):
            return _not_sent(error)
    elif not 200 <= http_status < 300:
        # SES answered with an error whose body broke off: not sent.
        return SESTransportError(
            f"The connection broke while reading SES's HTTP {http_status} error answer; "
            f"the message was not sent: {_short(error)}",
            code="IncompleteResponse",
            http_status=http_status,
        )
    return _unknown_outcome(error, http_status)


# --------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------


def environment_settings(url: str) -> tuple[dict[str, str], str | bool]:
    """The proxies and TLS verification that requests would take from the
    environment for a call to ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, ``NO_PROXY``..., then ``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE``), as its ``Session.merge_environment_settings`` reads
    them: the session's ``proxies`` and ``verify``."""
    proxies = get_environ_proxies(url)
    verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return proxies, verify



class SESClient:
    """Signs and posts Query API calls for one backend (one config).

    ``sleep``, ``clock`` and ``jitter`` (a function from the backoff ceiling
    to the wait) can be replaced, e.g. by tests: they are the ``_sleep``,
    ``_clock`` and ``_jitter`` attributes.
    """

    def __init__(
        self,
        config: Config,
        *,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        jitter: Callable[[float], float] | None = None,
    ) -> None:
        self.config = config
        self.endpoint_url = config.endpoint_url.rstrip("/") + "/"
        #: Found at startup by check E004; raised at send time.
        self.endpoint_problem = endpoint_url_problem(config.endpoint_url)
        # One provider per client, asked at every signature, so providers
        # whose credentials expire can cache and refresh them.
        self.credentials_provider = config.credentials_provider
        self.session: requests.Session | None = None
        self._url = self.endpoint_url  # as requests prepares it: see open()
        self._sleep = sleep or time.sleep
        self._clock = clock or time.monotonic
        self._jitter = jitter or full_jitter

    # Connection lifecycle.

    def open(self) -> bool:
        if self.session is not None:
            return False
        session = requests.Session()
        adapter = _TrackingAdapter(
            pool_connections=1,
            pool_maxsize=max(self.config.max_concurrency, 1),
            max_retries=0,
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        if self.endpoint_problem is None:  # Else no request is made.
            session.proxies, session.verify = environment_settings(self.endpoint_url)
        # Read once per session above, instead of by requests on every call.
        # This also keeps requests from taking credentials for the endpoint's
        # host from ~/.netrc: they would replace the SigV4 Authorization.
        session.trust_env = False
        # What Session.prepare_request() would do to the URL at every call.
        self._url = self.endpoint_url
        if self.endpoint_problem is None:
            prepared = requests.PreparedRequest()
            prepared.prepare_url(self.endpoint_url, None)
            self._url = prepared.url
        self.session = session
        return True

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    # Calls. Their frames hold credentials and signed headers: hidden from
    # Django's error reports (technical 500 page, AdminEmailHandler).

    @sensitive_variables()
    def credentials(self):
        credentials = self.credentials_provider.get_credentials()
        if credentials is None or not credentials.access_key_id or not credentials.secret_access_key:
            raise SESConfigurationError(
                "No AWS credentials: set SES_QUERY['ACCESS_KEY_ID'] and "
                "SES_QUERY['SECRET_ACCESS_KEY'], or the AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY environment variables.",
                code="MissingCredentials",
            )
        unsafe = unsafe_credential_names(credentials)
        if unsafe:
            # HTTP would refuse the header; never quote the value.
            raise SESConfigurationError(
                f"The AWS credentials ({self.credentials_provider.source}) hold whitespace or a "
                f"control character in {', '.join(unsafe)} (a trailing newline from a file?); "
                "nothing was sent.",
                code="InvalidCredentials",
            )
        return credentials

    @sensitive_variables()
    def signed_headers(self, body: bytes, credentials=None) -> dict[str, str]:
        if self.endpoint_problem is not None:
            raise SESConfigurationError(
                f"ENDPOINT_URL {self.config.endpoint_url!r} {self.endpoint_problem}; nothing was sent.",
                code="InvalidEndpoint",
            )
        return sign(
            method="POST",
            url=self.endpoint_url,
            headers={"Content-Type": query.CONTENT_TYPE},
            body=body,
            credentials=credentials or self.credentials(),
            region=self.config.region,
            service="ses",
        )

    @sensitive_variables()
    def _post_once(self, action: str, body: bytes) -> Result:
        credentials = self.credentials()
        try:
            return self._post_signed(action, body, credentials)
        except SESError as error:
            # SES's own messages may quote them (SignatureDoesNotMatch).
            raise error.hide(credentials.secret_access_key, credentials.session_token)

    @sensitive_variables()
    def _post_signed(self, action: str, body: bytes, credentials) -> Result:
        headers = self.signed_headers(body, credentials)
        session = self.session
        if session is None:
            raise RuntimeError("SESClient.open() must be called before sending.")
        _wire.state = None
        try:
            # Streamed: the status is known before the body is read, so a
            # body cut short can be told from a request that got no answer.
            response = self._send(session, body, headers)
        except (requests.RequestException, ValueError) as error:
            state = getattr(_wire, "state", None)
            if isinstance(error, ValueError) and state != WRITTEN:
                # requests or http.client refused a header value or the URL
                # before writing anything; their text quotes the value.
                raise SESConfigurationError(
                    f"HTTP refused the request before sending it ({type(error).__name__}: a header "
                    "value or the endpoint URL it does not allow); nothing was sent.",
                    code="InvalidRequest",
                ) from None
            raise _transport_error(error, state) from error
        except (KeyboardInterrupt, SystemExit) as interruption:
            # A worker being stopped: the caller logs an unknown outcome.
            interruption.ses_outcome_unknown = getattr(_wire, "state", None) == WRITTEN
            raise
        finally:
            state = _wire.state
            _wire.state = None
        try:
            content = response.content
        except requests.RequestException as error:
            response.close()
            raise _transport_error(error, state, response.status_code) from error
        except (KeyboardInterrupt, SystemExit) as interruption:
            interruption.ses_outcome_unknown = 200 <= response.status_code < 300
            raise
        if 200 <= response.status_code < 300:
            if action in SEND_ACTIONS:
                return parse_send_result(action, content, response.status_code)
            return parse_result(action, content, response.status_code)
        raise parse_error(content, response.status_code)

    def _send(self, session: requests.Session, body: bytes, headers: dict[str, str]) -> requests.Response:
        """POST ``body`` through the session's mounted adapter.

        What ``session.post()`` would send, byte for byte (the session's
        headers, then the call's, then Content-Length), with the session's
        proxies and TLS verification, without the per-call work of a
        Session that a signed API does not need: settings merging,
        re-parsing the URL, hooks, redirects, cookies (SES sets none; a
        cookie would not be signed anyway) and ~/.netrc (never wanted: it
        would replace the SigV4 Authorization).
        """
        request = requests.PreparedRequest()
        request.method = "POST"
        request.url = self._url
        request.headers = CaseInsensitiveDict(session.headers)
        request.headers.update(headers)
        request.headers["Content-Length"] = str(len(body))
        request.body = body
        # Streamed: the status is known before the body is read, so a
        # body cut short can be told from a request that got no answer.
        return session.get_adapter(self._url).send(
            request, stream=True, timeout=self.config.timeout, verify=session.verify,
            cert=session.cert, proxies=session.proxies,
        )

    def _should_retry(self, error: SESError) -> bool:
        if isinstance(error, SESTransportError):
            if error.sent:
                return self.config.retry_unknown_outcome
            # A certificate or protocol mismatch will fail the same way again.
            return error.code != "SSLError"
        if isinstance(error, SESQuotaExceededError):
            return False
        return error.retryable

    def call(self, action: str, params=None, *, body: bytes | None = None, recipients: int = 0) -> Response:
        """One Query API call, with retries; raises :class:`SESError`.

        With ``recipients``, each attempt first waits for that many tokens
        of the send rate. The error raised carries ``attempts`` and
        ``duration_ms``. ``duration_ms`` and the retry budget count from the
        first attempt (not the wait for the rate before it).
        """
        if body is None:
            body = query.encode(action, params or {})
        started: float | None = None
        deadline = 0.0
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            if recipients:
                self.wait_for_rate(recipients)
            if started is None:
                started = self._clock()
                deadline = started + self.config.retry_budget
            try:
                result = self._post_once(action, body)
            except SESError as error:
                error.attempts = attempt
                if error.code in EXPIRED_TOKEN_CODES and not refreshed:
                    # Temporary credentials expired early (revoked, clock
                    # skew): one refresh and one more try.
                    refreshed = True
                    refresh = getattr(self.credentials_provider, "refresh", None)
                    if refresh is not None and refresh():
                        continue
                if attempt <= self.config.max_retries and self._should_retry(error):
                    delay = self._jitter(backoff_ceiling(attempt))
                    if self._clock() + delay < deadline:
                        logger.warning(
                            "SES %s attempt %d failed (%s); retrying in %.2fs.",
                            action, attempt, error.code, delay,
                        )
                        self._sleep(delay)
                        continue
                    logger.warning(
                        "SES %s attempt %d failed (%s); not retrying: the retry budget "
                        "(%ss) is spent.", action, attempt, error.code, self.config.retry_budget,
                    )
                error.duration_ms = round((self._clock() - started) * 1000)
                raise
            return Response(result, attempt, round((self._clock() - started) * 1000))

    # Rate limiting.

    def _rate(self) -> float | None:
        if self.config.max_send_rate:
            return float(self.config.max_send_rate)
        if not self.config.send_rate_from_quota:
            return None
        key = (self.endpoint_url, self.credentials().access_key_id)
        # Held while asking (retries included), so concurrent first sends for
        # one account ask only once; other accounts do not wait for it.
        with _quota_lock_for(key):
            cached = _quota_rates.get(key)
            if cached is not None:
                rate, retry_at = cached
                if retry_at is None or time.monotonic() < retry_at:
                    return rate
            try:
                rate = float(self.call("GetSendQuota").result.values["MaxSendRate"])
                if not rate > 0:
                    raise ValueError(f"MaxSendRate is {rate}")
            except (SESError, KeyError, ValueError) as error:
                logger.warning(
                    "Could not read MaxSendRate from GetSendQuota (%s); sending without "
                    "a rate limit, asking again in %d seconds.", error, QUOTA_RETRY_INTERVAL,
                )
                _quota_rates[key] = (None, time.monotonic() + QUOTA_RETRY_INTERVAL)
                return None
            _quota_rates[key] = (rate, None)
            return rate

    def wait_for_rate(self, recipients: int) -> float:
        """Block until ``recipients`` more may be sent; return seconds waited."""
        rate = self._rate()
        if not rate:
            return 0.0
        key = (self.endpoint_url, self.credentials().access_key_id)
        if self.config.rate_limit_cache:
            try:
                from django.core.cache import caches

                limiter = CacheRateLimiter(
                    caches[self.config.rate_limit_cache],
                    lowest_rate(key, rate),
                    f"{urlsplit(self.endpoint_url).netloc}:{key[1]}",
                )
                return limiter.acquire(recipients)
            except Exception:
                _warn_cache_unusable(self.config.rate_limit_cache)
        return shared_bucket(key, rate).acquire(recipients)


_cache_warned_at: float | None = None


def _warn_cache_unusable(alias: str) -> None:
    """Log (at most once a minute) that the cache limiter failed."""
    global _cache_warned_at
    now = time.monotonic()
    if _cache_warned_at is None or now - _cache_warned_at > 60:
        _cache_warned_at = now
        logger.warning(
            "RATE_LIMIT_CACHE %r cannot be used; limiting the rate in this process only.",
            alias, exc_info=True,
        )


def reset_quota_cache() -> None:
    """Forget the rates read from GetSendQuota (for tests)."""
    with _quota_lock:
        _quota_rates.clear()
        _quota_locks.clear()
