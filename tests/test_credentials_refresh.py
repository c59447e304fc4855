"""Temporary credentials refreshed before expiry: the advisory and mandatory
windows, many threads at once, failures, and ExpiredToken (a fake clock;
every send checked by an endpoint that verifies the signature)."""

from __future__ import annotations

import logging
import threading

import pytest

from django_ses_query.backend import EmailBackend
from django_ses_query.credentials import refresh
from django_ses_query.credentials.base import Credentials
from django_ses_query.credentials.refresh import RefreshableCredentialsProvider
from django_ses_query.exceptions import SESAuthenticationError, SESConfigurationError
from tests.fakeaws import FakeContainer, clock, issuer, send, ses  # noqa: F401 (fixtures)

HOUR = 3600
MINUTE = 60


class Source:
    """A fetch function issuing credentials valid for an hour; it can be
    made to fail, or to wait on an event (so threads pile up behind it)."""

    def __init__(self, clock):
        self.clock = clock
        self.calls = 0
        self.fail = False
        self.gate: threading.Event | None = None
        self.started = threading.Event()
        self._lock = threading.Lock()

    def __call__(self) -> Credentials:
        with self._lock:
            self.calls += 1
            number = self.calls
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.fail:
            raise SESConfigurationError("STS said no", code="CredentialsFetchError")
        return Credentials(f"ASIA{number}", f"secret{number}", f"token{number}", self.clock() + HOUR)


def test_fresh_credentials_are_used_without_fetching(clock):
    source = Source(clock)
    provider = RefreshableCredentialsProvider(source, "test")
    first = provider.get_credentials()
    clock.advance(HOUR - 16 * MINUTE)
    assert provider.get_credentials() is first
    assert source.calls == 1


def test_advisory_window_one_thread_refreshes_the_others_keep_the_current_ones(clock):
    source = Source(clock)
    provider = RefreshableCredentialsProvider(source, "test")
    first = provider.get_credentials()
    clock.advance(HOUR - 12 * MINUTE)  # 12 minutes left: advisory
    source.gate = threading.Event()
    source.started.clear()
    refresher_got = []
    refresher = threading.Thread(target=lambda: refresher_got.append(provider.get_credentials()))
    refresher.start()
    assert source.started.wait(10)
    # While the refresh is under way, 20 other threads do not wait for it.
    others = []
    threads = [threading.Thread(target=lambda: others.append(provider.get_credentials())) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert others == [first] * 20
    source.gate.set()
    refresher.join(10)
    assert source.calls == 2
    assert refresher_got[0].access_key_id == "ASIA2"
    assert provider.get_credentials().access_key_id == "ASIA2"


def test_advisory_refresh_failure_keeps_the_current_ones(clock, caplog):
    source = Source(clock)
    provider = RefreshableCredentialsProvider(source, "test source")
    first = provider.get_credentials()
    clock.advance(HOUR - 12 * MINUTE)
    source.fail = True
    with caplog.at_level(logging.WARNING, "django_ses_query"):
        assert provider.get_credentials() is first
    assert "Refreshing the credentials from test source failed" in caplog.text
    assert "secret1" not in caplog.text and "token1" not in caplog.text
    # Not tried again on every call...
    assert provider.get_credentials() is first
    assert source.calls == 2
    # ...but again after a while, and then it works.
    clock.advance(refresh.RETRY_AFTER_FAILURE)
    source.fail = False
    assert provider.get_credentials().access_key_id == "ASIA3"


def test_mandatory_window_every_thread_waits_for_one_refresh(clock):
    source = Source(clock)
    provider = RefreshableCredentialsProvider(source, "test")
    provider.get_credentials()
    clock.advance(HOUR - 5 * MINUTE)  # 5 minutes left: mandatory
    source.gate = threading.Event()
    source.started.clear()
    got = []
    threads = [threading.Thread(target=lambda: got.append(provider.get_credentials())) for _ in range(25)]
    for thread in threads:
        thread.start()
    assert source.started.wait(10)
    assert got == []  # Everyone waits for the refresh.
    source.gate.set()
    for thread in threads:
        thread.join(10)
    assert source.calls == 2
    assert {c.access_key_id for c in got} == {"ASIA2"}


def test_mandatory_refresh_failure_keeps_still_valid_credentials_then_fails_once_expired(clock):
    source = Source(clock)
    provider = RefreshableCredentialsProvider(source, "test")
    first = provider.get_credentials()
    clock.advance(HOUR - 5 * MINUTE)
    source.fail = True
    assert provider.get_credentials() is first
    clock.advance(5 * MINUTE)  # expired now
    with pytest.raises(SESConfigurationError) as caught:
        provider.get_credentials()
    assert caught.value.code == "CredentialsFetchError"
    source.fail = False
    assert provider.get_credentials().access_key_id == "ASIA4"


def test_never_returns_expired_credentials(clock):
    calls = []

    def stale():
        calls.append(1)
        return Credentials("ASIAOLD", "secret", "token", clock() - 1)

    provider = RefreshableCredentialsProvider(stale, "stale source")
    with pytest.raises(SESConfigurationError, match="stale source gave credentials that expired"):
        provider.get_credentials()


def test_many_threads_across_many_expiries_never_get_expired_credentials(clock):
    source = Source(clock)
    provider = RefreshableCredentialsProvider(source, "test")
    bad = []
    done = threading.Event()

    def worker():
        while not done.is_set():
            # The clock may move on after the provider read it: compare with
            # a time read before asking (an expiry at or before it is a bug).
            before = clock()
            credentials = provider.get_credentials()
            if credentials.expiration <= before:
                bad.append(credentials)

    def ticker():
        for _ in range(40):
            clock.advance(7 * MINUTE)
            provider.get_credentials()
        done.set()

    threads = [threading.Thread(target=worker) for _ in range(8)] + [threading.Thread(target=ticker)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert bad == []
    # 40 x 7 minutes = 4 h 40 min: a refresh per ~50 minutes, not one per call.
    assert 4 <= source.calls <= 12


# -- through the backend ---------------------------------------------------------


@pytest.fixture
def container(issuer, monkeypatch):
    with FakeContainer(issuer, token="container-auth-token") as server:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url + server.path)
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth-token")
        yield server


def test_expired_token_answer_refreshes_once_and_retries_once(issuer, container, ses, clock):
    assert send() == 1
    [first] = issuer.issued
    # The credentials stop working early (revoked, or clocks disagree): SES
    # answers ExpiredToken though our clock says they are valid for an hour.
    first.expiration = clock()
    assert send() == 1
    assert ses.refused == ["ExpiredToken"]
    assert ses.sent == [first.access_key_id, issuer.issued[1].access_key_id]
    assert len(container.requests()) == 2


def test_expired_token_twice_fails_after_one_retry(issuer, container, ses, clock):
    send()
    ses.answer_expired_token = True  # Whatever credentials are used.
    with pytest.raises(SESAuthenticationError) as caught:
        send()
    assert caught.value.code == "ExpiredToken"
    assert ses.refused == ["ExpiredToken", "ExpiredToken"]
    assert len(container.requests()) == 2  # One refresh, not a loop.


def test_sends_keep_working_across_expiries(issuer, container, ses, clock):
    backend = EmailBackend()
    for _ in range(5):
        assert send(backend) == 1
        clock.advance(55 * MINUTE)
    # Each hour's credentials were refreshed in the mandatory window.
    assert ses.refused == []
    assert len(set(ses.sent)) == 5
    assert ses.sent == [c.access_key_id for c in issuer.issued]


def test_backends_with_the_same_configuration_share_one_provider(issuer, container, ses):
    first, second = EmailBackend(), EmailBackend()
    assert first.client.credentials_provider is second.client.credentials_provider
    send(first)
    send(second)
    assert len(container.requests()) == 1
    other = EmailBackend(region="eu-west-1")
    assert other.client.credentials_provider is not first.client.credentials_provider


def test_short_lived_credentials_are_not_refreshed_at_every_call(clock):
    """15-minute credentials start inside a 15-minute advisory window: their
    windows are half and a third of their lifetime instead."""
    calls = []

    def fifteen_minutes():
        calls.append(1)
        return Credentials(f"ASIA{len(calls)}", "secret", "token", clock() + 15 * MINUTE)

    provider = RefreshableCredentialsProvider(fifteen_minutes, "test")
    for _ in range(10):
        provider.get_credentials()
    assert len(calls) == 1
    clock.advance(7 * MINUTE)
    assert provider.get_credentials().access_key_id == "ASIA1"
    clock.advance(1 * MINUTE)  # 7 minutes left: under half the lifetime
    assert provider.get_credentials().access_key_id == "ASIA2"
    assert len(calls) == 2
