"""Recipient-based rate limiting (SES counts every recipient).

One token bucket per (endpoint, access key) is shared by every backend
instance in the process; its burst is at most one second's worth of the
rate. Backends configured with different rates for one account share that
bucket and its balance: the lowest rate configured wins (the account's
limit is one). Optionally, a Django cache alias spreads the limit over
processes: on Redis, one GCRA reservation per request, atomic in a Lua
script on the server's clock and keyed by the endpoint; on another cache
that counts (Memcached), a sliding window.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Thread-safe token bucket: ``rate`` tokens per second, burst ``rate``.

    Callers reserve their tokens in turn (first come, first served), so a
    message with many recipients is never starved by smaller ones: the
    balance may go negative, and each caller sleeps, outside the lock, until
    its reservation is covered. A request for more tokens than the burst (a
    message with more recipients than the per-second rate) goes as soon as
    the bucket is full and leaves it in debt, so the average rate still
    holds.

    ``clock`` and ``sleep`` can be replaced (e.g. by a fake clock in tests).
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
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
        if now > self._updated:
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now

    @property
    def tokens(self) -> float:
        """The balance now (negative while reservations are being waited for)."""
        with self._lock:
            self._refill()
            return self._tokens

    def reserve(self, tokens: float = 1) -> float:
        """Take ``tokens`` now; return how many seconds to wait before using them."""
        tokens = float(tokens)
        if tokens <= 0:
            return 0.0
        with self._lock:
            self._refill()
            needed = min(tokens, self.capacity)
            delay = max(0.0, (needed - self._tokens) / self.rate)
            self._tokens -= tokens
            return delay

    def lower_rate(self, rate: float) -> None:
        """Lower the rate (and burst) to ``rate``, keeping the balance."""
        with self._lock:
            if not 0 < rate < self.rate:
                return
            self._refill()
            self.rate = self.capacity = float(rate)
            self._tokens = min(self._tokens, self.capacity)

    def acquire(self, tokens: float = 1) -> float:
        """Block until ``tokens`` may be spent; return the seconds waited."""
        delay = self.reserve(tokens)
        if delay > 0:
            self._sleep(delay)
        return delay


class CacheRateLimiter:
    """A sliding window counted in a Django cache shared by several
    processes, so together they stay under the account's rate.

    The window is one second long, or ``1 / rate`` seconds below one message
    a second (0.5/s: one message per two seconds, never one per second). It
    is made of counters, ``SLOTS`` per second,
    incremented atomically (``cache.incr``), so it needs a cache whose
    ``incr`` is atomic across processes: Redis or Memcached. A caller adds
    its tokens to the current slot, then sums the window; if that is over
    the rate it takes them back and waits for the oldest slot to leave the
    window. Callers that race may both back off, never both pass. A message
    with more recipients than the rate goes alone in an empty window.
    """

    SLOTS = 10
    #: Give up (the caller falls back to a local limit) after this many
    #: failed increments in a row, e.g. with a cache that cannot count.
    MAX_FAILURES = 3

    def __init__(
        self,
        cache,
        rate: float,
        key: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.cache = cache
        self.rate = float(rate)
        self.key = key
        self._clock = clock
        self._sleep = sleep

    def _slot_key(self, slot: int) -> str:
        return f"django_ses_query:rate:{self.key}:{slot}"

    def acquire(self, tokens: float = 1) -> float:
        """Block until ``tokens`` may be spent; return the seconds waited."""
        tokens = max(math.ceil(tokens), 1)
        window = max(1.0, 1.0 / self.rate)  # Seconds; long enough for one message.
        capacity = self.rate * window
        width = math.ceil(window * self.SLOTS - 1e-9)  # Slots in the window.
        waited = 0.0
        failures = 0
        while True:
            now = self._clock()
            slot = math.floor(now * self.SLOTS)
            key = self._slot_key(slot)
            self.cache.add(key, 0, timeout=math.ceil(window) + 5)
            try:
                self.cache.incr(key, tokens)
            except ValueError:  # Expired between add() and incr(), or no counting.
                failures += 1
                if failures >= self.MAX_FAILURES:
                    raise RuntimeError(f"the cache {self.cache!r} cannot count (incr failed)") from None
                continue
            failures = 0
            slots = range(slot - width + 1, slot + 1)
            counts = self.cache.get_many([self._slot_key(s) for s in slots])
            used = sum(int(v) for v in counts.values() if v)
            if used <= capacity + 1e-9 or used == tokens:
                return waited
            try:
                self.cache.decr(key, tokens)
            except ValueError:  # Expired meanwhile: nothing left to take back.
                pass
            busy = [s for s in slots if counts.get(self._slot_key(s))]
            oldest = busy[0] if busy else slot
            delay = max((oldest + width) / self.SLOTS - now, 1 / (self.SLOTS * 10))
            self._sleep(delay)
            waited += delay


#: GCRA (the generic cell rate algorithm) as one atomic reservation, on
#: the Redis server's clock: the key holds the theoretical arrival time
#: (TAT) of the account's next recipient. A caller's request goes at
#: max(TAT, now); TAT moves on by one interval per recipient. Callers are
#: served in the order they ask, whatever their host, and never burst.
GCRA_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local interval = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local start = math.max(tat, now)
local new_tat = start + cost * interval
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return string.format('%.6f', start - now)
"""
GCRA_SHA = hashlib.sha1(GCRA_SCRIPT.encode()).hexdigest()


class RedisRateLimiter:
    """``rate`` recipients a second across every process and host that
    shares the Redis server behind a Django ``RedisCache`` (GCRA, see
    ``GCRA_SCRIPT``). Each call is one atomic reservation; the caller then
    sleeps for the wait the server's clock gave it, so hosts' clocks do
    not matter."""

    def __init__(self, cache, rate: float, key: str, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.cache = cache
        self.rate = float(rate)
        self.key = cache.make_and_validate_key(f"django_ses_query:gcra:{key}")
        self._sleep = sleep

    def reserve(self, tokens: float = 1) -> float:
        """Take ``tokens`` now; return how many seconds to wait before using them."""
        from redis.exceptions import NoScriptError

        client = self.cache._cache.get_client(self.key, write=True)
        args = (1, self.key, repr(1.0 / self.rate), str(max(math.ceil(tokens), 1)))
        try:
            delay = client.evalsha(GCRA_SHA, *args)
        except NoScriptError:
            delay = client.eval(GCRA_SCRIPT, *args)
        return max(0.0, float(delay))

    def acquire(self, tokens: float = 1) -> float:
        """Block until ``tokens`` may be spent; return the seconds waited."""
        delay = self.reserve(tokens)
        if delay > 0:
            self._sleep(delay)
        return delay


def shared_limiter(cache, rate: float, *, endpoint: str, account: str):
    """The limiter shared through ``cache``: GCRA on a Django ``RedisCache``
    (keyed by the account's endpoint, whatever access key each host uses),
    else the sliding window of :class:`CacheRateLimiter`."""
    try:
        from django.core.cache.backends.redis import RedisCache
    except ImportError:  # No redis-py: no RedisCache either.
        RedisCache = None
    if RedisCache is not None and isinstance(cache, RedisCache):
        return RedisRateLimiter(cache, rate, endpoint)
    return CacheRateLimiter(cache, rate, f"{endpoint}:{account}")


_buckets: dict[tuple, TokenBucket] = {}
_buckets_lock = threading.Lock()


_lowest_rates: dict[tuple, float] = {}


def lowest_rate(key: tuple, rate: float) -> float:
    """The lowest rate configured so far in this process for ``key`` (an
    account at an endpoint), ``rate`` included."""
    with _buckets_lock:
        lowest = _lowest_rates[key] = min(float(rate), _lowest_rates.get(key, float(rate)))
        return lowest


def shared_bucket(key: tuple, rate: float) -> TokenBucket:
    """The process-wide bucket for ``key``: one per account, never rebuilt,
    so its balance holds whatever rate each caller is configured with; the
    lowest rate configured for ``key`` is the bucket's."""
    rate = lowest_rate(key, rate)
    with _buckets_lock:
        bucket = _buckets.get(key)
        if bucket is None:
            bucket = _buckets[key] = TokenBucket(rate)
        else:
            bucket.lower_rate(rate)
        return bucket


def reset_buckets() -> None:
    with _buckets_lock:
        _buckets.clear()
        _lowest_rates.clear()
