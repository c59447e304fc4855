"""The send rate of one account, as the SES call waits for it.

``MAX_SEND_RATE``, or with ``SEND_RATE_FROM_QUOTA`` the ``MaxSendRate`` of
``GetSendQuota`` (asked once per account and endpoint, kept for the life of
the process; after a failure, asked again five minutes later). The wait is
the process's token bucket for the account, or with ``RATE_LIMIT_CACHE`` a
limit shared through that Django cache (see ``ratelimit``: on Redis, one
for the endpoint across every host).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from .exceptions import SESError
from .ratelimit import lowest_rate, shared_bucket, shared_limiter

logger = logging.getLogger("django_ses_query")

#: After a failed GetSendQuota, send without a rate limit for this long
#: before asking again.
QUOTA_RETRY_INTERVAL = 300.0  # seconds

_quota_rates: dict[tuple, tuple[float | None, float | None]] = {}
_quota_lock = threading.Lock()  # Guards _quota_locks only: held for no I/O.
_quota_locks: dict[tuple, threading.Lock] = {}
_cache_warned_at: float | None = None


def quota_lock_for(key: tuple) -> threading.Lock:
    with _quota_lock:
        return _quota_locks.setdefault(key, threading.Lock())


def reset_quota_cache() -> None:
    """Forget the rates read from GetSendQuota, and the cache warning (for tests)."""
    global _cache_warned_at
    with _quota_lock:
        _quota_rates.clear()
        _quota_locks.clear()
        _cache_warned_at = None


class SendRate:
    """The rate limit of one client.

    ``account`` gives the access key id the limit is kept under; ``quota``
    asks SES for its ``GetSendQuota`` values (only with
    ``send_rate_from_quota``).
    """

    def __init__(
        self,
        *,
        endpoint_url: str,
        max_send_rate: float | None,
        from_quota: bool,
        cache_alias: str | None,
        account: Callable[[], str],
        quota: Callable[[], dict],
    ) -> None:
        self.endpoint_url = endpoint_url
        self.max_send_rate = max_send_rate
        self.from_quota = from_quota
        self.cache_alias = cache_alias
        self.account = account
        self.quota = quota

    def rate(self) -> float | None:
        """Recipients per second, or None: no limit."""
        if self.max_send_rate:
            return float(self.max_send_rate)
        if not self.from_quota:
            return None
        key = (self.endpoint_url, self.account())
        # Held while asking (retries included), so concurrent first sends for
        # one account ask only once; other accounts do not wait for it.
        with quota_lock_for(key):
            cached = _quota_rates.get(key)
            if cached is not None:
                rate, retry_at = cached
                if retry_at is None or time.monotonic() < retry_at:
                    return rate
            try:
                rate = float(self.quota()["MaxSendRate"])
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

    def wait(self, recipients: int) -> float:
        """Block until ``recipients`` more may be sent; return seconds waited."""
        rate = self.rate()
        if not rate:
            return 0.0
        key = (self.endpoint_url, self.account())
        if self.cache_alias:
            try:
                from django.core.cache import caches

                limiter = shared_limiter(
                    caches[self.cache_alias], lowest_rate(key, rate),
                    endpoint=urlsplit(self.endpoint_url).netloc, account=key[1],
                )
                return limiter.acquire(recipients)
            except Exception:
                warn_cache_unusable(self.cache_alias)
        return shared_bucket(key, rate).acquire(recipients)


def warn_cache_unusable(alias: str) -> None:
    """Log (at most once a minute) that the cache limiter failed."""
    global _cache_warned_at
    now = time.monotonic()
    if _cache_warned_at is None or now - _cache_warned_at > 60:
        _cache_warned_at = now
        logger.warning(
            "RATE_LIMIT_CACHE %r cannot be used; limiting the rate in this process only.",
            alias, exc_info=True,
        )
