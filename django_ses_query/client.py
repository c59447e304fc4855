"""HTTP: one signed POST per Query API call, over a keep-alive session.

Retries throttling ("Maximum sending rate exceeded."), 5xx answers and
connection failures that happened before the request was sent, with
exponential backoff and full jitter, within ``MAX_RETRIES`` and a total
time budget. A failure after the request was sent (a read timeout, a reset)
is an unknown outcome: SES may have sent the message, so it is not resent
unless ``RETRY_UNKNOWN_OUTCOME`` is on.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from . import __version__, query
from .conf import Config
from .exceptions import SESConfigurationError, SESError, SESTransportError
from .ratelimit import CacheRateLimiter, shared_bucket
from .responses import Result, parse_error, parse_result, parse_send_result
from .signing import sign

logger = logging.getLogger("django_ses_query")

USER_AGENT = f"django-ses-query/{__version__}"
BACKOFF_BASE = 0.1  # seconds
BACKOFF_CAP = 5.0  # seconds
SEND_ACTIONS = frozenset({"SendEmail", "SendRawEmail"})

_quota_rates: dict[tuple, float] = {}
_quota_lock = threading.Lock()


@dataclass
class Response:
    result: Result
    attempts: int
    duration_ms: int


def _transport_error(error: Exception) -> SESTransportError:
    """Classify a requests exception: did the request possibly reach SES?"""
    if isinstance(error, requests.ConnectTimeout):
        return SESTransportError(f"Timed out connecting: {error}", code="ConnectTimeout")
    if isinstance(error, requests.ReadTimeout):
        return SESTransportError(
            "Timed out waiting for SES's answer after the request was sent; "
            "the outcome is unknown (the message may have been sent).",
            code="ReadTimeout",
            sent=True,
        )
    if isinstance(error, requests.ConnectionError):
        text = str(error)
        # urllib3 reports failures to connect as NewConnectionError /
        # NameResolutionError; anything else broke an established connection
        # after the request may have been read.
        if "NewConnectionError" in text or "NameResolution" in text or "Failed to resolve" in text:
            return SESTransportError(f"Could not connect: {_short(error)}", code="ConnectionError")
        return SESTransportError(
            f"The connection broke after the request was sent; the outcome is "
            f"unknown (the message may have been sent): {_short(error)}",
            code="ConnectionReset",
            sent=True,
        )
    return SESTransportError(f"{type(error).__name__}: {_short(error)}", code="TransportError")


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) <= 300 else text[:300] + "…"


class SESClient:
    """Signs and posts Query API calls for one backend (one config)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.endpoint_url = config.endpoint_url.rstrip("/") + "/"
        self.session: requests.Session | None = None
        self._sleep = time.sleep

    # Connection lifecycle.

    def open(self) -> bool:
        if self.session is not None:
            return False
        session = requests.Session()
        adapter = HTTPAdapter(
            pool_connections=1,
            pool_maxsize=max(self.config.max_concurrency, 1),
            max_retries=0,
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        self.session = session
        return True

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    # Calls.

    def credentials(self):
        credentials = self.config.credentials_provider.get_credentials()
        if credentials is None or not credentials.access_key_id or not credentials.secret_access_key:
            raise SESConfigurationError(
                "No AWS credentials: set SES_QUERY['ACCESS_KEY_ID'] and "
                "SES_QUERY['SECRET_ACCESS_KEY'], or the AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY environment variables.",
                code="MissingCredentials",
            )
        return credentials

    def signed_headers(self, body: bytes, credentials=None) -> dict[str, str]:
        return sign(
            method="POST",
            url=self.endpoint_url,
            headers={"Content-Type": query.CONTENT_TYPE},
            body=body,
            credentials=credentials or self.credentials(),
            region=self.config.region,
            service="ses",
        )

    def _post_once(self, action: str, body: bytes) -> Result:
        headers = self.signed_headers(body)
        session = self.session
        if session is None:
            raise RuntimeError("SESClient.open() must be called before sending.")
        try:
            response = session.post(
                self.endpoint_url, data=body, headers=headers, timeout=self.config.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise _transport_error(error) from None
        content = response.content
        if 200 <= response.status_code < 300:
            if action in SEND_ACTIONS:
                return parse_send_result(action, content, response.status_code)
            return parse_result(action, content, response.status_code)
        raise parse_error(content, response.status_code)

    def _should_retry(self, error: SESError) -> bool:
        if isinstance(error, SESTransportError) and error.sent:
            return self.config.retry_unknown_outcome
        return error.retryable

    def call(self, action: str, params=None, *, body: bytes | None = None) -> Response:
        """One Query API call, with retries; raises :class:`SESError`.

        The error raised carries ``attempts`` and ``duration_ms``.
        """
        if body is None:
            body = query.encode(action, params or {})
        started = time.monotonic()
        deadline = started + self.config.retry_budget
        attempt = 0
        while True:
            attempt += 1
            try:
                result = self._post_once(action, body)
            except SESError as error:
                error.attempts = attempt
                retry = attempt <= self.config.max_retries and self._should_retry(error)
                delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))
                if retry and time.monotonic() + delay < deadline:
                    logger.warning(
                        "SES %s attempt %d failed (%s); retrying in %.2fs.",
                        action, attempt, error.code, delay,
                    )
                    self._sleep(delay)
                    continue
                error.duration_ms = int((time.monotonic() - started) * 1000)
                raise
            return Response(result, attempt, int((time.monotonic() - started) * 1000))

    # Rate limiting.

    def _rate(self) -> float | None:
        if self.config.max_send_rate:
            return float(self.config.max_send_rate)
        if not self.config.send_rate_from_quota:
            return None
        key = (self.endpoint_url, self.credentials().access_key_id)
        with _quota_lock:
            if key in _quota_rates:
                return _quota_rates[key]
        rate = float(self.call("GetSendQuota").result.values["MaxSendRate"])
        with _quota_lock:
            _quota_rates[key] = rate
        return rate

    def wait_for_rate(self, recipients: int) -> float:
        """Block until ``recipients`` more may be sent; return seconds waited."""
        rate = self._rate()
        if not rate:
            return 0.0
        if self.config.rate_limit_cache:
            from django.core.cache import caches

            key = f"{urlsplit(self.endpoint_url).netloc}:{self.credentials().access_key_id}"
            limiter = CacheRateLimiter(caches[self.config.rate_limit_cache], rate, key)
            return limiter.acquire(recipients)
        bucket = shared_bucket((self.endpoint_url, self.credentials().access_key_id), rate)
        return bucket.acquire(recipients)
