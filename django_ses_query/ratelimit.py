"""Recipient-based rate limiting (SES counts every recipient).

One token bucket per (endpoint, access key) is shared by every backend
instance in the process; its burst is at most one second's worth of the
rate. Optionally, a Django cache alias spreads the limit over processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Thread-safe token bucket: ``rate`` tokens per second, burst ``rate``.

    A request for more tokens than the burst (a message with more recipients
    than the per-second rate) waits for a full bucket and then leaves it in
    debt, so the average rate still holds.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = float(rate)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def acquire(self, tokens: float = 1) -> float:
        """Block until ``tokens`` may be spent; return the seconds waited."""
        waited = 0.0
        needed = min(float(tokens), self.capacity)
        while True:
            with self._lock:
                self._refill()
                if self._tokens >= needed:
                    self._tokens -= tokens
                    return waited
                delay = (needed - self._tokens) / self.rate
            self._sleep(delay)
            waited += delay


class CacheRateLimiter:
    """Fixed one-second windows counted in a Django cache shared by several
    processes (e.g. Redis or Memcached), so together they stay under the
    account's rate."""

    def __init__(
        self,
        cache,
        rate: float,
        key: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cache = cache
        self.rate = float(rate)
        self.key = key
        self._clock = clock
        self._sleep = sleep

    def acquire(self, tokens: float = 1) -> float:
        waited = 0.0
        tokens = int(tokens) or 1
        while True:
            now = self._clock()
            window = int(now)
            key = f"django_ses_query:rate:{self.key}:{window}"
            self.cache.add(key, 0, timeout=5)
            try:
                used = self.cache.incr(key, tokens)
            except ValueError:  # Expired between add() and incr().
                continue
            # A message larger than the whole rate goes alone in its window.
            if used <= self.rate or used == tokens:
                return waited
            self.cache.decr(key, tokens)
            delay = window + 1 - now
            self._sleep(delay)
            waited += delay


_buckets: dict[tuple, TokenBucket] = {}
_buckets_lock = threading.Lock()


def shared_bucket(key: tuple, rate: float) -> TokenBucket:
    """The process-wide bucket for ``key`` (rebuilt if the rate changes)."""
    with _buckets_lock:
        bucket = _buckets.get(key)
        if bucket is None or bucket.rate != float(rate):
            bucket = _buckets[key] = TokenBucket(rate)
        return bucket


def reset_buckets() -> None:
    with _buckets_lock:
        _buckets.clear()
