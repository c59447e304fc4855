"""The rate limiters: the process-wide token bucket and the cache limiter.

Every test runs on a fake clock (nothing really sleeps, nothing is timed);
waits are asserted as the exact seconds the limiter asked to sleep.
"""

from __future__ import annotations

import threading

import pytest
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache

from django_ses_query import ratelimit
from django_ses_query.ratelimit import CacheRateLimiter, TokenBucket, reset_buckets, shared_bucket


class FakeClock:
    """A clock that only moves when something sleeps (or ``advance``)."""

    def __init__(self, now: float = 1000.0, *, advance_on_sleep: bool = True) -> None:
        self.now = now
        self.advance_on_sleep = advance_on_sleep
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if self.advance_on_sleep:
                self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture(autouse=True)
def _fresh_buckets():
    reset_buckets()
    yield
    reset_buckets()


def bucket(rate, clock):
    return TokenBucket(rate, clock=clock, sleep=clock.sleep)


# -- TokenBucket ---------------------------------------------------------------


def test_burst_is_one_seconds_worth_then_one_token_per_interval():
    clock = FakeClock()
    limiter = bucket(5, clock)

    waits = [limiter.acquire(1) for _ in range(8)]

    assert waits[:5] == [0, 0, 0, 0, 0]
    assert waits[5:] == pytest.approx([0.2, 0.2, 0.2])
    assert clock.sleeps == pytest.approx([0.2, 0.2, 0.2])


def test_idle_time_never_builds_a_burst_bigger_than_the_rate():
    clock = FakeClock()
    limiter = bucket(5, clock)
    clock.advance(3600)

    waits = [limiter.acquire(1) for _ in range(6)]

    assert waits == pytest.approx([0, 0, 0, 0, 0, 0.2])


def test_tokens_are_recipients():
    clock = FakeClock(advance_on_sleep=False)
    limiter = bucket(10, clock)

    assert limiter.acquire(4) == 0
    assert limiter.acquire(4) == 0
    # 2 tokens left, 4 needed: 2 more at 10/s.
    assert limiter.acquire(4) == pytest.approx(0.2)


def test_partial_refill():
    clock = FakeClock()
    limiter = bucket(10, clock)
    assert limiter.acquire(10) == 0
    clock.advance(0.3)

    assert limiter.acquire(3) == pytest.approx(0, abs=1e-9)
    assert limiter.acquire(1) == pytest.approx(0.1)


def test_more_recipients_than_the_rate_go_with_a_full_bucket_and_leave_a_debt():
    clock = FakeClock()
    limiter = bucket(5, clock)

    assert limiter.acquire(12) == 0  # A full bucket: goes now, 7 in debt.
    assert limiter.acquire(1) == pytest.approx(1.6)  # (7 + 1) / 5
    assert limiter.acquire(12) == pytest.approx(1.0)  # Waits for a full bucket again.


def test_rate_below_one_per_second():
    clock = FakeClock()
    limiter = bucket(0.5, clock)

    waits = [limiter.acquire(1) for _ in range(3)]

    # One message every two seconds: burst of one (capacity 0.5, one recipient).
    assert waits == pytest.approx([0, 2.0, 2.0])


def test_reservations_are_first_come_first_served():
    """A big request is not starved by small ones arriving after it."""
    clock = FakeClock(advance_on_sleep=False)
    limiter = bucket(10, clock)
    limiter.acquire(10)

    big = limiter.reserve(10)
    small = limiter.reserve(1)

    assert big == pytest.approx(1.0)
    assert small == pytest.approx(1.1)


def test_zero_tokens_never_wait():
    clock = FakeClock(advance_on_sleep=False)
    limiter = bucket(1, clock)
    limiter.acquire(5)
    assert limiter.acquire(0) == 0
    assert clock.sleeps == []


@pytest.mark.parametrize("rate", [0, -1])
def test_rate_must_be_positive(rate):
    with pytest.raises(ValueError):
        TokenBucket(rate)


def test_thread_safety_every_token_is_reserved_exactly_once():
    """8 threads x 50 recipients on a frozen clock at 100/s: the waits are
    exactly the slots 0, ..., 0, 0.01, 0.02, ... 3.00 (no slot given twice,
    none skipped)."""
    clock = FakeClock(advance_on_sleep=False)
    limiter = bucket(100, clock)
    waits: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker():
        start.wait()
        mine = [limiter.acquire(1) for _ in range(50)]
        with lock:
            waits.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    expected = [0.0] * 100 + [k / 100 for k in range(1, 301)]
    assert sorted(waits) == pytest.approx(expected)
    assert limiter.tokens == pytest.approx(100 - 400)


def test_thread_safety_with_a_moving_clock_and_mixed_sizes():
    """Several threads, recipients 1..5, the clock moving as they sleep: the
    total slept is what the recipients beyond the burst cost."""
    clock = FakeClock()
    limiter = bucket(20, clock)
    sizes = [1, 2, 3, 4, 5] * 20  # 300 recipients
    chunks = [sizes[i::6] for i in range(6)]

    def worker(chunk):
        for size in chunk:
            limiter.acquire(size)

    threads = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Each sleep advances the shared clock, so concurrent sleeps overlap in
    # real life but add up here: never less than (300 - 20) / 20 seconds
    # elapsed, and the bucket's balance is exact.
    assert clock.now - 1000.0 >= (300 - 20) / 20 - 1e-9
    assert limiter.tokens <= 20


# -- the process-wide registry ---------------------------------------------------


def test_shared_bucket_is_one_per_key_and_the_lowest_rate_wins():
    key = ("https://email.us-east-1.amazonaws.com/", "AKID")
    first = shared_bucket(key, 14)
    assert shared_bucket(key, 14) is first
    assert shared_bucket(key, 14.0) is first
    assert shared_bucket(("https://other/", "AKID"), 14) is not first
    # Another backend on the same account: the same bucket, never rebuilt.
    assert shared_bucket(key, 28) is first
    assert first.rate == 14
    assert shared_bucket(key, 7) is first
    assert first.rate == 7
    assert shared_bucket(key, 14).rate == 7


def test_alternating_rates_keep_the_balance():
    """Two backends at 2/s and 2.5/s alternating on one account: twelve
    recipients take five seconds (two at once, then 2/s), as one backend
    would; the bucket is not refilled at each switch."""
    clock = FakeClock()
    key = ("https://email.us-east-1.amazonaws.com/", "AKID")
    ratelimit._buckets[key] = bucket(2, clock)

    waited = sum(shared_bucket(key, 2.5 if i % 2 else 2).acquire(1) for i in range(12))

    assert waited == pytest.approx(5.0)
    assert clock.now == pytest.approx(1005.0)


def test_lowering_the_rate_keeps_the_debt():
    clock = FakeClock(advance_on_sleep=False)
    limiter = bucket(10, clock)
    limiter.reserve(15)  # Five in debt.
    limiter.lower_rate(5)
    assert limiter.tokens == pytest.approx(-5)
    assert limiter.reserve(1) == pytest.approx(6 / 5)


def test_shared_bucket_under_threads_is_a_single_instance():
    key = ("https://x/", "AKID")
    seen = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        seen.append(shared_bucket(key, 3))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(b) for b in seen}) == 1


# -- CacheRateLimiter -------------------------------------------------------------


@pytest.fixture
def cache():
    cache = LocMemCache("django-ses-query-ratelimit-tests", {})
    cache.clear()  # LocMemCache instances of one name share their storage.
    yield cache
    cache.clear()


def cache_limiter(cache, rate, clock, key="endpoint:AKID"):
    return CacheRateLimiter(cache, rate, key, clock=clock, sleep=clock.sleep)


def test_cache_limiter_allows_the_rate_within_a_second(cache):
    clock = FakeClock(now=5000.0)
    limiter = cache_limiter(cache, 5, clock)

    waits = [limiter.acquire(1) for _ in range(5)]

    assert waits == [0, 0, 0, 0, 0]
    assert clock.sleeps == []


def test_cache_limiter_waits_for_the_window_to_slide(cache):
    clock = FakeClock(now=5000.0)
    limiter = cache_limiter(cache, 5, clock)
    for _ in range(5):
        limiter.acquire(1)

    assert limiter.acquire(1) == pytest.approx(1.0)
    assert clock.now == pytest.approx(5001.0)


def test_cache_limiter_has_no_double_burst_at_a_second_boundary(cache):
    """Fixed one-second windows would let 2 x rate through around a
    boundary; the sliding window lets at most the rate through in any
    second."""
    clock = FakeClock(now=5000.9)
    limiter = cache_limiter(cache, 5, clock)
    for _ in range(5):
        assert limiter.acquire(1) == 0
    clock.advance(0.15)  # Into the next whole second.

    assert limiter.acquire(1) == pytest.approx(0.85)


def test_cache_limiter_counts_recipients_and_shares_between_instances(cache):
    """Two limiters on one cache (as two processes would be) share the rate."""
    clock = FakeClock(now=5000.0)
    one = cache_limiter(cache, 10, clock)
    two = cache_limiter(cache, 10, clock)

    assert one.acquire(6) == 0
    assert two.acquire(4) == 0
    assert two.acquire(1) == pytest.approx(1.0)


def test_cache_limiter_separate_keys_do_not_share(cache):
    clock = FakeClock(now=5000.0)
    cache_limiter(cache, 5, clock, key="a").acquire(5)
    assert cache_limiter(cache, 5, clock, key="b").acquire(5) == 0


def test_cache_limiter_message_bigger_than_the_rate_goes_alone(cache):
    clock = FakeClock(now=5000.0)
    limiter = cache_limiter(cache, 5, clock)

    assert limiter.acquire(12) == 0
    assert limiter.acquire(1) == pytest.approx(1.0)


def test_cache_limiter_threads_never_exceed_the_rate(cache):
    """Several threads on a frozen clock: exactly the rate gets through."""
    clock = FakeClock(now=5000.0, advance_on_sleep=False)
    passed = []
    lock = threading.Lock()

    class Stop(Exception):
        pass

    def sleep(seconds):
        raise Stop  # A thread that would have to wait gives up.

    def worker():
        limiter = CacheRateLimiter(cache, 20, "k", clock=clock, sleep=sleep)
        for _ in range(10):
            try:
                limiter.acquire(1)
            except Stop:
                return
            with lock:
                passed.append(1)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(passed) <= 20
    assert len(passed) >= 1


def test_cache_limiter_gives_up_on_a_cache_that_cannot_count():
    clock = FakeClock(now=5000.0)
    limiter = cache_limiter(DummyCache("dummy", {}), 5, clock)
    with pytest.raises(RuntimeError, match="cannot count"):
        limiter.acquire(1)


def test_module_exports():
    assert ratelimit.reset_buckets is reset_buckets


def test_cache_limiter_below_one_per_second_keeps_the_rate(cache):
    """0.5/s is one message every two seconds, not one per one-second window."""
    clock = FakeClock(now=5000.0)
    limiter = cache_limiter(cache, 0.5, clock)

    waits = [limiter.acquire(1) for _ in range(4)]

    assert waits == pytest.approx([0, 2.0, 2.0, 2.0])
    assert clock.now == pytest.approx(5006.0)


def test_cache_limiter_below_one_per_second_after_idle_time(cache):
    clock = FakeClock(now=5000.0)
    limiter = cache_limiter(cache, 0.25, clock)
    assert limiter.acquire(1) == 0
    clock.advance(1.5)
    assert limiter.acquire(1) == pytest.approx(2.5)  # Four seconds after the first.
    clock.advance(4.0)
    assert limiter.acquire(1) == 0


# -- Shared through Redis ------------------------------------------------------------------------


@pytest.fixture
def redis_cache(redis_db, settings):
    from django.core.cache import caches

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
                       "redis": settings.REDIS_CACHE}
    return caches["redis"]


def test_redis_gcra_serves_every_host_in_turn_on_the_servers_clock(redis_cache):
    from django_ses_query.ratelimit import shared_limiter

    one = shared_limiter(redis_cache, 1, endpoint="email.eu-west-1.amazonaws.com", account="AKIDHOSTONE")
    two = shared_limiter(redis_cache, 1, endpoint="email.eu-west-1.amazonaws.com", account="AKIDHOSTTWO")
    other = shared_limiter(redis_cache, 1, endpoint="email.us-east-1.amazonaws.com", account="AKIDHOSTONE")
    # One recipient a second, the same account's endpoint whatever the access key: each waits its turn.
    waits = [one.reserve(1), two.reserve(1), one.reserve(3), two.reserve(1)]
    assert [round(wait) for wait in waits] == [0, 1, 2, 5]
    assert round(other.reserve(1)) == 0  # Another endpoint: its own limit.


def test_an_unreachable_redis_falls_back_to_the_process_limit_with_a_warning(settings, caplog):
    from django_ses_query.sendrate import SendRate

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "dead": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0",
        "OPTIONS": {"socket_connect_timeout": 0.5},
    }}
    rate = SendRate(endpoint_url="https://email.eu-west-1.amazonaws.com", max_send_rate=1000, from_quota=False,
                    cache_alias="dead", account=lambda: "AKID", quota=dict)
    with caplog.at_level("WARNING", logger="django_ses_query"):
        assert rate.wait(1) == 0
    assert "RATE_LIMIT_CACHE 'dead' cannot be used; limiting the rate in this process only." in caplog.text
