"""The SES client's send rate: MAX_SEND_RATE, GetSendQuota's MaxSendRate,
the process-wide bucket and the shared cache window."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from django_ses_query import sendrate as sendrate_module
from django_ses_query import ratelimit
from tests.fakeses import (
    delay,
    error,
    ok,
)
from tests.sesclient import send


# -- the rate-limit hook ------------------------------------------------------------------


def test_every_attempt_waits_for_the_rate(make_client, fake_ses, monkeypatch):
    fake_ses.enqueue(error("Throttling_rate"))
    client = make_client()
    waits = []
    monkeypatch.setattr(client, "wait_for_rate", waits.append)

    assert send(client, recipients=3).attempts == 2
    assert waits == [3, 3]


def test_no_rate_limit_by_default(make_client):
    client = make_client()
    assert client.wait_for_rate(50) == 0.0
    assert ratelimit._buckets == {}


def test_max_send_rate_uses_the_process_wide_bucket(make_client, monkeypatch):
    sleeps = []
    frozen = lambda: 0.0  # noqa: E731

    class FakeBucket(ratelimit.TokenBucket):
        def __init__(self, rate):
            super().__init__(rate, clock=frozen, sleep=sleeps.append)

    monkeypatch.setattr(ratelimit, "TokenBucket", FakeBucket)
    one = make_client(max_send_rate=10)
    two = make_client(max_send_rate=10)

    waits = [one.wait_for_rate(4), two.wait_for_rate(4), one.wait_for_rate(4)]

    assert waits == pytest.approx([0, 0, 0.2])
    assert sleeps == pytest.approx([0.2])
    assert len(ratelimit._buckets) == 1


def test_send_rate_from_quota_asks_once(make_client, fake_ses):
    one = make_client(send_rate_from_quota=True)
    two = make_client(send_rate_from_quota=True)

    assert one.rate() == 1.0
    assert two.rate() == 1.0
    assert one.rate() == 1.0
    assert [r.action for r in fake_ses.requests] == ["GetSendQuota"]


def test_send_rate_from_quota_is_asked_once_by_concurrent_threads(make_client, fake_ses):
    fake_ses.enqueue(delay(0.2, ok()))
    clients = [make_client(send_rate_from_quota=True) for _ in range(6)]
    rates = []
    barrier = threading.Barrier(len(clients))

    def worker(client):
        barrier.wait()
        rates.append(client.rate())

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert rates == [1.0] * 6
    assert len(fake_ses.requests) == 1


def test_max_send_rate_wins_over_the_quota(make_client, fake_ses):
    client = make_client(max_send_rate=7, send_rate_from_quota=True)
    assert client.rate() == 7.0
    assert fake_ses.requests == []


def test_quota_failure_sends_unlimited_and_does_not_ask_every_time(make_client, fake_ses, caplog):
    fake_ses.enqueue(error("AccessDenied"))
    client = make_client(send_rate_from_quota=True)

    with caplog.at_level(logging.WARNING, logger="django_ses_query"):
        assert client.wait_for_rate(5) == 0.0
        assert client.wait_for_rate(5) == 0.0

    assert [r.action for r in fake_ses.requests] == ["GetSendQuota"]
    assert "GetSendQuota" in caplog.text


def test_quota_is_asked_again_after_the_retry_interval(make_client, fake_ses, monkeypatch):
    fake_ses.enqueue(error("AccessDenied"))
    client = make_client(send_rate_from_quota=True)
    monkeypatch.setattr(sendrate_module, "QUOTA_RETRY_INTERVAL", 0.0)

    assert client.rate() is None
    assert client.rate() == 1.0  # Asked again; this time it answers...
    assert client.rate() == 1.0  # ...and that answer is kept.
    assert [r.action for r in fake_ses.requests] == ["GetSendQuota"] * 2


def test_rate_limit_cache_counts_in_the_cache(make_client, settings):
    settings.CACHES = {"rate": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rl"}}
    from django.core.cache import caches

    caches["rate"].clear()
    client = make_client(max_send_rate=50, rate_limit_cache="rate")

    assert client.wait_for_rate(3) == 0.0
    assert ratelimit._buckets == {}
    counters = [k for k in caches["rate"]._cache if "django_ses_query:rate:" in k]
    assert len(counters) == 1
    caches["rate"].clear()


def test_unusable_rate_limit_cache_falls_back_to_the_process(make_client, settings, caplog):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    client = make_client(max_send_rate=50, rate_limit_cache="default")  # The warning was reset by conftest.
    with caplog.at_level(logging.WARNING, logger="django_ses_query"):
        assert client.wait_for_rate(3) == 0.0
    assert len(ratelimit._buckets) == 1
    assert "limiting the rate in this process only" in caplog.text


def test_backends_with_different_rates_share_one_balance(make_client, monkeypatch):
    """Twelve sends alternating between a 2/s and a 2.5/s backend on one
    account take about five seconds: the lowest rate, one balance."""
    clock = {"now": 0.0}
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        clock["now"] += seconds

    class FakeBucket(ratelimit.TokenBucket):
        def __init__(self, rate):
            super().__init__(rate, clock=lambda: clock["now"], sleep=sleep)

    monkeypatch.setattr(ratelimit, "TokenBucket", FakeBucket)
    slow, fast = make_client(max_send_rate=2), make_client(max_send_rate=2.5)

    waited = sum((fast if i % 2 else slow).wait_for_rate(1) for i in range(12))

    assert waited == pytest.approx(5.0)
    assert len(ratelimit._buckets) == 1


def test_a_quota_rate_and_a_configured_rate_share_one_balance(make_client, fake_ses, monkeypatch):
    clock = {"now": 0.0}

    def sleep(seconds):
        clock["now"] += seconds

    class FakeBucket(ratelimit.TokenBucket):
        def __init__(self, rate):
            super().__init__(rate, clock=lambda: clock["now"], sleep=sleep)

    monkeypatch.setattr(ratelimit, "TokenBucket", FakeBucket)
    configured, quota = make_client(max_send_rate=5), make_client(send_rate_from_quota=True)

    # The quota's MaxSendRate (1/s) is the lowest: it wins for both.
    waited = sum((configured if i % 2 else quota).wait_for_rate(1) for i in range(6))

    assert waited == pytest.approx(5.0)


def test_get_send_quota_for_one_account_does_not_hold_up_another(make_client, fake_ses):
    """GetSendQuota (with its retries) is asked under a lock per account: a
    slow answer for one account does not stop another from getting its rate."""
    fake_ses.enqueue(delay(2.0, ok()))
    slow = make_client(send_rate_from_quota=True, access_key_id="AKIDSLOW", secret_access_key="s" * 40)
    other = make_client(send_rate_from_quota=True, access_key_id="AKIDOTHER", secret_access_key="o" * 40)
    finished = []

    def ask_slowly():
        finished.append(("slow", slow.rate()))

    thread = threading.Thread(target=ask_slowly)
    thread.start()
    deadline = time.monotonic() + 10
    while not fake_ses.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    finished.append(("other", other.rate()))  # While the slow answer is awaited.
    thread.join()

    assert finished == [("other", 1.0), ("slow", 1.0)]
    assert [r.action for r in fake_ses.requests] == ["GetSendQuota", "GetSendQuota"]
