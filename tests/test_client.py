"""SESClient: retries, backoff, unknown outcomes, transport classification and
the rate-limit hook, against the local SES endpoint (tests/fakeses.py).

Backoff sleeps are recorded, never slept; nothing here asserts on time.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import struct
import threading
import time
from unittest import mock

import pytest
import requests
import urllib3

from django_ses_query import client as client_module
from django_ses_query import ratelimit
from django_ses_query.client import (
    BACKOFF_CAP,
    NOT_WRITTEN,
    WRITTEN,
    SESClient,
    _transport_error,
    backoff_ceiling,
    full_jitter,
)
from django_ses_query.conf import get_config
from django_ses_query.exceptions import (
    SESAuthenticationError,
    SESError,
    SESMessageRejectedError,
    SESQuotaExceededError,
    SESResponseError,
    SESServerError,
    SESThrottlingError,
    SESTransportError,
)
from tests.fakeses import (
    ENTITY_BOMB,
    HTML_502,
    NOT_XML,
    FakeSES,
    close_before_reading,
    delay,
    error,
    ok,
    raw,
    refused_endpoint,
    reset_connection,
    xml,
)

URLLIB3_1 = urllib3.__version__.startswith("1.")
SEND = {"Source": "from@example.com", "Destination.ToAddresses.member.1": "to@example.com",
        "Message.Subject.Data": "Hi", "Message.Body.Text.Data": "Body"}




class Recorder:
    def __init__(self):
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def make_client(fake_ses):
    """A SESClient on the local endpoint whose backoff sleeps are recorded,
    with the jitter's ceiling as the wait (so the waits are exact)."""
    clients = []

    def make(endpoint_url=None, *, jitter=lambda ceiling: ceiling, **options):
        options.setdefault("max_retries", 3)
        sleep = Recorder()
        client = SESClient(
            get_config(endpoint_url=endpoint_url or fake_ses.endpoint_url, **options),
            sleep=sleep,
            jitter=jitter,
        )
        client.sleeps = sleep.sleeps
        client.open()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def requests_seen(server, count: int, limit: float = 10.0) -> int:
    """How many requests the endpoint recorded, once it has recorded at least
    ``count`` (a client that timed out may be quicker than the endpoint's
    thread in recording the request it made)."""
    deadline = time.monotonic() + limit
    while len(server.requests) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(server.requests)


def send(client, **kwargs):
    return client.call("SendEmail", SEND, **kwargs)


# -- backoff -----------------------------------------------------------------------


def test_backoff_ceiling_doubles_up_to_the_cap():
    assert [backoff_ceiling(n) for n in range(1, 9)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, BACKOFF_CAP, BACKOFF_CAP]
    )


def test_full_jitter_draws_between_zero_and_the_ceiling():
    with mock.patch.object(client_module.random, "uniform", return_value=0.123) as uniform:
        assert full_jitter(0.4) == 0.123
    uniform.assert_called_once_with(0, 0.4)
    draws = [full_jitter(0.8) for _ in range(200)]
    assert all(0 <= d <= 0.8 for d in draws)
    assert len(set(draws)) > 1


def test_throttled_twice_then_accepted(make_client, fake_ses):
    fake_ses.enqueue(error("Throttling_rate"), error("Throttling_rate"))
    client = make_client()

    response = send(client)

    assert response.attempts == 3
    assert response.result.message_id == fake_ses.sent[0].message_id
    assert client.sleeps == pytest.approx([0.1, 0.2])
    assert [r.status for r in fake_ses.requests] == [400, 400, 200]
    assert len(fake_ses.sent) == 1


def test_default_jitter_waits_stay_under_each_ceiling(make_client, fake_ses):
    fake_ses.enqueue(*[error("ServiceUnavailable")] * 3)
    client = make_client(jitter=None)

    assert send(client).attempts == 4
    assert len(client.sleeps) == 3
    for attempt, slept in enumerate(client.sleeps, start=1):
        assert 0 <= slept <= backoff_ceiling(attempt)


def test_retries_exhausted(make_client, fake_ses):
    fake_ses.enqueue(*[error("Throttling_rate")] * 4)
    client = make_client(max_retries=3)

    with pytest.raises(SESThrottlingError) as caught:
        send(client)

    assert caught.value.attempts == 4
    assert caught.value.duration_ms is not None
    assert client.sleeps == pytest.approx([0.1, 0.2, 0.4])
    assert len(fake_ses.requests) == 4
    assert fake_ses.sent == []


def test_max_retries_zero_means_one_attempt(make_client, fake_ses):
    fake_ses.enqueue(error("Throttling_rate"))
    client = make_client(max_retries=0)

    with pytest.raises(SESThrottlingError) as caught:
        send(client)

    assert caught.value.attempts == 1
    assert client.sleeps == []
    assert len(fake_ses.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        error("Throttling_rate"),
        error("ServiceUnavailable"),
        error("InternalFailure"),
        raw(502, HTML_502),
        raw(504, "Gateway Timeout", "text/plain"),
        xml(500, "<Oops/>"),
        raw(503, NOT_XML, "text/plain"),
    ],
    ids=["throttling", "503-ServiceUnavailable", "500-InternalFailure", "502-html", "504-text",
         "500-xml-without-error", "503-not-xml"],
)
def test_retryable_answers_are_retried(make_client, fake_ses, answer):
    fake_ses.enqueue(answer)
    client = make_client()

    response = send(client)

    assert response.attempts == 2
    assert len(fake_ses.requests) == 2
    assert len(fake_ses.sent) == 1


@pytest.mark.parametrize(
    "answer, exception, code",
    [
        (error("Throttling_daily"), SESQuotaExceededError, "Throttling"),
        (error("MessageRejected"), SESMessageRejectedError, "MessageRejected"),
        (error("SignatureDoesNotMatch"), SESAuthenticationError, "SignatureDoesNotMatch"),
        (error("InvalidParameterValue"), SESError, "InvalidParameterValue"),
        (raw(200, NOT_XML, "text/plain"), SESResponseError, "MalformedResponse"),
        (xml(200, ENTITY_BOMB), SESResponseError, "UnsafeResponse"),
    ],
    ids=["daily-quota", "rejected", "signature", "invalid-parameter", "200-not-xml", "200-entity-bomb"],
)
def test_final_answers_are_not_retried(make_client, fake_ses, answer, exception, code):
    fake_ses.enqueue(answer)
    client = make_client()

    with pytest.raises(exception) as caught:
        send(client)

    assert caught.value.code == code
    assert caught.value.attempts == 1
    assert client.sleeps == []
    assert len(fake_ses.requests) == 1


def test_daily_quota_at_http_503_is_still_not_retried(make_client, fake_ses):
    from tests.fakeses import response_file

    fake_ses.enqueue(xml(503, response_file("error_Throttling_daily.xml")))
    client = make_client()

    with pytest.raises(SESQuotaExceededError):
        send(client)
    assert len(fake_ses.requests) == 1


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_retry_budget_stops_retries(make_client, fake_ses):
    """0.25 s budget, ceilings as waits: after the first wait (0.1) the next
    (0.2) would start at 0.3, past the budget."""
    fake_ses.enqueue(*[error("ServiceUnavailable")] * 4)
    client = make_client(retry_budget=0.25, max_retries=5)
    clock = FakeClock()
    client._clock, client._sleep = clock, clock.sleep

    with pytest.raises(SESServerError) as caught:
        send(client)

    assert caught.value.attempts == 2
    assert len(fake_ses.requests) == 2
    assert caught.value.duration_ms == 100


def test_retry_budget_does_not_count_the_wait_for_the_rate(make_client, fake_ses, monkeypatch):
    fake_ses.enqueue(error("ServiceUnavailable"))
    client = make_client(retry_budget=0.25)
    clock = FakeClock()
    client._clock, client._sleep = clock, clock.sleep
    monkeypatch.setattr(client, "wait_for_rate", lambda n: clock.sleep(10))

    response = send(client, recipients=1)

    assert response.attempts == 2
    # 0.1 backoff + the second attempt's 10 s wait for the rate.
    assert response.duration_ms == 10100


# -- unknown outcomes ----------------------------------------------------------------


def test_reset_after_the_request_was_read_is_not_resent(make_client, fake_ses):
    fake_ses.enqueue(reset_connection())
    client = make_client()

    with pytest.raises(SESTransportError) as caught:
        send(client)

    assert caught.value.sent is True
    assert caught.value.code == "ConnectionReset"
    assert "outcome is unknown" in caught.value.message
    assert caught.value.attempts == 1
    assert len(fake_ses.requests) == 1


def test_reset_is_resent_when_opted_in(make_client, fake_ses):
    fake_ses.enqueue(reset_connection())
    client = make_client(retry_unknown_outcome=True)

    response = send(client)

    assert response.attempts == 2
    assert len(fake_ses.requests) == 2
    assert len(fake_ses.sent) == 1


def test_read_timeout_is_an_unknown_outcome(make_client, fake_ses):
    fake_ses.enqueue(delay(2.0))
    client = make_client(timeout=0.2)

    with pytest.raises(SESTransportError) as caught:
        send(client)

    assert caught.value.code == "ReadTimeout"
    assert caught.value.sent is True
    assert caught.value.attempts == 1
    assert requests_seen(fake_ses, 1) == 1


def test_read_timeout_is_resent_when_opted_in(make_client, fake_ses):
    fake_ses.enqueue(delay(2.0))
    client = make_client(timeout=0.2, retry_unknown_outcome=True)

    assert send(client).attempts == 2
    assert requests_seen(fake_ses, 2) == 2


def test_closed_before_reading_looks_like_a_reset_after_sending(make_client, fake_ses):
    """The endpoint never read this request, but the client cannot tell:
    what it sees is exactly what it sees after a reset once the request was
    read. So it is an unknown outcome too, and not resent."""
    fake_ses.enqueue(close_before_reading())
    client = make_client()

    with pytest.raises(SESTransportError) as closed:
        send(client)
    fake_ses.enqueue(reset_connection())
    with pytest.raises(SESTransportError) as reset:
        send(client)

    assert closed.value.sent is reset.value.sent is True
    assert closed.value.code == reset.value.code == "ConnectionReset"
    # Both are ConnectionError(ProtocolError('Connection aborted.', ...)),
    # with a ConnectionResetError or a RemoteDisconnected inside for either.
    for caught in (closed, reset):
        assert isinstance(caught.value.__cause__, requests.ConnectionError)
        assert isinstance(caught.value.__cause__.args[0], urllib3.exceptions.ProtocolError)
    assert [r.status for r in fake_ses.requests] == [None]  # Only the second was read.


# -- failures before anything was written --------------------------------------------


def test_connection_refused_is_retried_then_reported(make_client):
    client = make_client(refused_endpoint(), max_retries=2)

    with pytest.raises(SESTransportError) as caught:
        send(client)

    assert caught.value.code == "ConnectionRefused"
    assert caught.value.sent is False
    assert "nothing was sent" in caught.value.message
    assert caught.value.attempts == 3
    assert client.sleeps == pytest.approx([0.1, 0.2])


def test_connection_refused_then_the_endpoint_answers(make_client, fake_ses, monkeypatch):
    """Refused twice (nothing sent), then accepted: one send, three attempts."""
    client = make_client()
    real_send = requests.adapters.HTTPAdapter.send
    refused = iter([refused_endpoint(), refused_endpoint()])

    def send_to_refused(adapter, request, **kwargs):
        request.url = next(refused, request.url)
        return real_send(adapter, request, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send_to_refused)

    assert send(client).attempts == 3
    assert len(fake_ses.requests) == 1


@contextlib.contextmanager
def tcp_server(handle):
    """A loopback TCP server calling ``handle(connection)`` for each
    connection, on a daemon thread; yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.05)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            connection.settimeout(5)
            try:
                handle(connection)
            finally:
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        server.close()


@pytest.fixture
def resetting_tls_endpoint():
    """A TCP server that reads the TLS ClientHello, then resets: the
    handshake fails before any byte of the HTTP request is written."""

    def reset(connection):
        connection.recv(4096)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with tcp_server(reset) as port:
        yield f"https://127.0.0.1:{port}"


def test_reset_during_the_tls_handshake_is_retried(make_client, fake_ses, resetting_tls_endpoint):
    """urllib3 reports a reset during the TLS handshake exactly like a reset
    after the request was sent (ProtocolError('Connection aborted.',
    ConnectionResetError)); the connection's own record tells them apart."""
    client = make_client(resetting_tls_endpoint, max_retries=2)

    with pytest.raises(SESTransportError) as handshake:
        send(client)

    assert handshake.value.sent is False
    assert handshake.value.code == "ConnectionError"
    assert handshake.value.attempts == 3

    fake_ses.enqueue(reset_connection())
    with pytest.raises(SESTransportError) as after_sending:
        send(make_client())
    assert after_sending.value.sent is True
    assert type(handshake.value.__cause__) is type(after_sending.value.__cause__) is requests.ConnectionError
    assert repr(handshake.value.__cause__) == repr(after_sending.value.__cause__)


def test_handshake_read_timeout_is_a_connect_timeout(make_client):
    """A TLS handshake that hangs: urllib3 raises ReadTimeoutError, but
    nothing of the request was written, so it is retried."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        client = make_client(f"https://127.0.0.1:{server.getsockname()[1]}", timeout=0.2, max_retries=1)
        with pytest.raises(SESTransportError) as caught:
            send(client)
    finally:
        server.close()
    assert caught.value.code == "ConnectTimeout"
    assert caught.value.sent is False
    assert caught.value.attempts == 2


# -- proxies, CA bundle and ~/.netrc: the environment, read when the session opens -------

PROXY_VARIABLES = (
    "http_proxy", "https_proxy", "all_proxy", "no_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
    "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "REQUEST_METHOD",
)
PROXIED_ENDPOINT = "http://email.proxied-only.invalid"


@pytest.fixture
def clean_environment(monkeypatch):
    """No proxy or CA bundle variable from the machine running the tests."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_http_proxy_from_the_environment_is_used(make_client, fake_ses, clean_environment):
    """HTTP_PROXY points at the local endpoint, which answers as the proxy:
    the request arrives in proxy form, for a host that does not resolve."""
    clean_environment.setenv("HTTP_PROXY", fake_ses.endpoint_url)

    assert send(make_client(PROXIED_ENDPOINT)).attempts == 1

    (request,) = fake_ses.requests
    assert request.path == PROXIED_ENDPOINT + "/"
    assert request.headers["Host"] == "email.proxied-only.invalid"
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=")


@pytest.mark.parametrize("variable", ["http_proxy", "ALL_PROXY"])
def test_other_spellings_of_the_proxy_variable(make_client, fake_ses, clean_environment, variable):
    clean_environment.setenv(variable, fake_ses.endpoint_url)

    send(make_client(PROXIED_ENDPOINT))

    assert [r.path for r in fake_ses.requests] == [PROXIED_ENDPOINT + "/"]


def test_no_proxy_is_respected(make_client, fake_ses, clean_environment):
    """The proxy refuses connections: going through it fails, NO_PROXY for
    the endpoint's host goes direct."""
    clean_environment.setenv("HTTP_PROXY", refused_endpoint())

    with pytest.raises(SESTransportError) as caught:
        send(make_client(max_retries=0))
    assert caught.value.sent is False
    assert fake_ses.requests == []

    clean_environment.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert send(make_client()).attempts == 1
    assert [r.path for r in fake_ses.requests] == ["/"]


def test_the_environment_is_read_when_the_session_opens(make_client, fake_ses, clean_environment):
    client = make_client()
    clean_environment.setenv("HTTP_PROXY", refused_endpoint())

    assert send(client).attempts == 1  # this session was opened without a proxy

    client.close()
    client.open()
    with pytest.raises(SESTransportError):
        send(client)
    assert len(fake_ses.requests) == 1


@pytest.mark.parametrize(
    "url, environment",
    [
        ("https://email.us-east-1.amazonaws.com/", {}),
        ("https://email.us-east-1.amazonaws.com/", {"HTTPS_PROXY": "http://proxy.internal:3128"}),
        ("https://email.us-east-1.amazonaws.com/", {"https_proxy": "http://proxy.internal:3128",
                                                    "HTTP_PROXY": "http://other.internal:8080"}),
        ("https://email.us-east-1.amazonaws.com/", {"ALL_PROXY": "socks5://proxy.internal:1080"}),
        ("https://email.us-east-1.amazonaws.com/", {"HTTPS_PROXY": "http://proxy.internal:3128",
                                                    "NO_PROXY": ".amazonaws.com"}),
        ("https://email.us-east-1.amazonaws.com/", {"HTTPS_PROXY": "http://proxy.internal:3128",
                                                    "no_proxy": "*"}),
        ("http://10.1.2.3:4566/", {"HTTP_PROXY": "http://proxy.internal:3128", "NO_PROXY": "10.0.0.0/8"}),
        ("http://10.1.2.3:4566/", {"HTTP_PROXY": "http://proxy.internal:3128", "NO_PROXY": "192.168.0.0/16"}),
        ("https://email.us-east-1.amazonaws.com/", {"REQUESTS_CA_BUNDLE": "/etc/ssl/corporate.pem"}),
        ("https://email.us-east-1.amazonaws.com/", {"CURL_CA_BUNDLE": "/etc/ssl/curl.pem"}),
        ("https://email.us-east-1.amazonaws.com/", {"REQUESTS_CA_BUNDLE": "/etc/ssl/a.pem",
                                                    "CURL_CA_BUNDLE": "/etc/ssl/b.pem"}),
    ],
)
def test_environment_settings_are_what_requests_reads_per_call(clean_environment, url, environment):
    for name, value in environment.items():
        clean_environment.setenv(name, value)
    expected = requests.Session().merge_environment_settings(url, {}, None, None, None)

    proxies, verify = client_module.environment_settings(url)

    assert proxies == expected["proxies"]
    assert verify == expected["verify"]


def test_the_session_verifies_with_the_ca_bundle_from_the_environment(make_client, clean_environment):
    clean_environment.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corporate.pem")
    client = make_client("https://email.us-east-1.amazonaws.com")

    assert client.session.verify == "/etc/ssl/corporate.pem"
    assert client.session.trust_env is False


def test_netrc_credentials_do_not_replace_the_signature(make_client, fake_ses, clean_environment, tmp_path):
    """requests would take Basic credentials for the host from ~/.netrc, in
    place of the SigV4 Authorization header."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    clean_environment.setenv("NETRC", str(netrc))

    send(make_client())

    assert fake_ses.requests[0].headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=")


# -- keep-alive connections closed by the server ---------------------------------------


def wait_until_closed(server: FakeSES, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while server._connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not server._connections, "the endpoint did not close its idle connection"


@pytest.fixture
def short_keep_alive():
    with FakeSES(keep_alive_timeout=0.2) as server:
        yield server


def test_idle_connection_closed_by_the_server_is_replaced_before_sending(make_client, short_keep_alive):
    client = make_client(short_keep_alive.endpoint_url)
    assert send(client).attempts == 1
    wait_until_closed(short_keep_alive)

    response = send(client)

    assert response.attempts == 1
    first, second = short_keep_alive.requests
    assert first.connection_id != second.connection_id
    assert len(short_keep_alive.sent) == 2


def test_server_closing_just_as_the_request_is_written_stays_unknown(make_client, short_keep_alive):
    """If the server's close arrives after urllib3 checked the pooled
    connection (simulated by skipping the check), the request is written to
    a closing connection and the client sees "closed without an answer":
    the same as a server that read the request and dropped the connection.
    Not resent by default."""
    client = make_client(short_keep_alive.endpoint_url)
    send(client)
    wait_until_closed(short_keep_alive)

    with mock.patch("urllib3.connectionpool.is_connection_dropped", return_value=False):
        with pytest.raises(SESTransportError) as caught:
            send(client)

    assert caught.value.code == "ConnectionReset"
    assert "closed without an answer" in caught.value.message
    assert caught.value.sent is True
    assert caught.value.attempts == 1
    assert len(short_keep_alive.requests) == 1


# -- classification of requests' exceptions -----------------------------------------------


def _refused() -> requests.ConnectionError:
    reason = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: refused")
    reason.__cause__ = ConnectionRefusedError(111, "Connection refused")
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))


def _aborted(cause: BaseException) -> requests.ConnectionError:
    return requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.", cause))


@pytest.mark.parametrize(
    "make_error, state, code, sent",
    [
        (_refused, None, "ConnectionRefused", False),
        (_refused, NOT_WRITTEN, "ConnectionRefused", False),
        (lambda: requests.ConnectTimeout("connect timed out"), None, "ConnectTimeout", False),
        (lambda: requests.ReadTimeout("read timed out"), None, "ReadTimeout", True),
        (lambda: requests.ReadTimeout("read timed out"), WRITTEN, "ReadTimeout", True),
        (lambda: requests.ReadTimeout("handshake timed out"), NOT_WRITTEN, "ConnectTimeout", False),
        (lambda: _aborted(ConnectionResetError(104, "reset")), None, "ConnectionReset", True),
        (lambda: _aborted(ConnectionResetError(104, "reset")), WRITTEN, "ConnectionReset", True),
        (lambda: _aborted(ConnectionResetError(104, "reset")), NOT_WRITTEN, "ConnectionError", False),
        (lambda: _aborted(http.client.RemoteDisconnected("closed")), WRITTEN, "ConnectionReset", True),
        (lambda: requests.exceptions.SSLError("certificate verify failed"), NOT_WRITTEN, "SSLError", False),
        (lambda: requests.exceptions.SSLError("bad record mac"), WRITTEN, "SSLError", True),
        (lambda: requests.RequestException("something else"), None, "ConnectionReset", True),
    ],
)
def test_transport_error_classification(make_error, state, code, sent):
    error = _transport_error(make_error(), state)
    assert isinstance(error, SESTransportError)
    assert (error.code, error.sent) == (code, sent)
    assert error.retryable is (not sent)


@pytest.mark.parametrize("status, sent", [(200, True), (503, False), (400, False)])
def test_a_broken_body_is_an_incomplete_answer_with_its_status(status, sent):
    error = _transport_error(requests.exceptions.ChunkedEncodingError("broken"), WRITTEN, status)
    assert (error.code, error.sent, error.http_status) == ("IncompleteResponse", sent, status)


@pytest.fixture
def raw_http_endpoint():
    """``serve(answer)``: an endpoint that reads one request per connection,
    writes ``answer`` (raw bytes) and closes."""
    with contextlib.ExitStack() as servers:

        def serve(answer: bytes) -> str:
            def answer_one(connection):
                data = b""
                while b"\r\n\r\n" not in data:
                    data += connection.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += connection.recv(65536)
                connection.sendall(answer)

            port = servers.enter_context(tcp_server(answer_one))
            return f"http://127.0.0.1:{port}"

        yield serve


def test_a_success_cut_short_is_an_unknown_outcome(make_client, raw_http_endpoint):
    """A 200 whose body stops before its Content-Length: SES said "sent"
    but the MessageId is lost. Reported as such, not resent."""
    url = raw_http_endpoint(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 500\r\n\r\n<SendEmailResponse>"
    )
    client = make_client(url)

    with pytest.raises(SESError) as caught:
        send(client)

    assert caught.value.attempts == 1
    if URLLIB3_1:  # Does not check the length: the XML is found truncated.
        assert caught.value.code == "MalformedResponse"
    else:
        assert (caught.value.code, caught.value.sent, caught.value.http_status) == ("IncompleteResponse", True, 200)


def test_an_error_cut_short_is_retried(make_client, raw_http_endpoint):
    url = raw_http_endpoint(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 500\r\n\r\n<ErrorResponse>"
    )
    client = make_client(url, max_retries=1)

    with pytest.raises(SESError) as caught:
        send(client)

    assert caught.value.attempts == 2
    if not URLLIB3_1:
        assert (caught.value.code, caught.value.sent, caught.value.http_status) == ("IncompleteResponse", False, 503)


def test_an_answer_that_is_not_http(make_client, raw_http_endpoint):
    client = make_client(raw_http_endpoint(b"SMTP ready\r\n\r\n"))

    with pytest.raises(SESTransportError) as caught:
        send(client)

    assert (caught.value.code, caught.value.sent) == ("InvalidHTTPResponse", True)
    assert caught.value.attempts == 1


def test_conflicting_content_lengths(make_client, fake_ses):
    fake_ses.enqueue(raw(200, b"<SendEmailResponse>", "text/xml", content_length="500"))

    with pytest.raises(SESTransportError) as caught:
        send(make_client())

    assert (caught.value.code, caught.value.sent) == ("InvalidHTTPResponse", True)
    assert caught.value.attempts == 1
    assert len(fake_ses.requests) == 1


def test_ssl_errors_before_sending_are_not_retried(make_client):
    client = make_client()
    error = _transport_error(requests.exceptions.SSLError("certificate verify failed"), NOT_WRITTEN)
    assert client._should_retry(error) is False


def test_the_connection_records_whether_the_request_was_written(make_client, fake_ses, monkeypatch):
    states = []
    real = client_module._transport_error

    def spy(error, state=None, http_status=None):
        states.append(state)
        return real(error, state, http_status)

    monkeypatch.setattr(client_module, "_transport_error", spy)
    fake_ses.enqueue(reset_connection())
    with pytest.raises(SESTransportError):
        send(make_client())
    with pytest.raises(SESTransportError):
        send(make_client(refused_endpoint(), max_retries=0))
    assert states == [WRITTEN, NOT_WRITTEN]


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

    assert one._rate() == 1.0
    assert two._rate() == 1.0
    assert one._rate() == 1.0
    assert [r.action for r in fake_ses.requests] == ["GetSendQuota"]


def test_send_rate_from_quota_is_asked_once_by_concurrent_threads(make_client, fake_ses):
    fake_ses.enqueue(delay(0.2, ok()))
    clients = [make_client(send_rate_from_quota=True) for _ in range(6)]
    rates = []
    barrier = threading.Barrier(len(clients))

    def worker(client):
        barrier.wait()
        rates.append(client._rate())

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert rates == [1.0] * 6
    assert len(fake_ses.requests) == 1


def test_max_send_rate_wins_over_the_quota(make_client, fake_ses):
    client = make_client(max_send_rate=7, send_rate_from_quota=True)
    assert client._rate() == 7.0
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
    monkeypatch.setattr(client_module, "QUOTA_RETRY_INTERVAL", 0.0)

    assert client._rate() is None
    assert client._rate() == 1.0  # Asked again; this time it answers...
    assert client._rate() == 1.0  # ...and that answer is kept.
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
    monkey_warned = client_module._cache_warned_at
    client_module._cache_warned_at = None
    try:
        client = make_client(max_send_rate=50, rate_limit_cache="default")
        with caplog.at_level(logging.WARNING, logger="django_ses_query"):
            assert client.wait_for_rate(3) == 0.0
    finally:
        client_module._cache_warned_at = monkey_warned
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
        finished.append(("slow", slow._rate()))

    thread = threading.Thread(target=ask_slowly)
    thread.start()
    deadline = time.monotonic() + 10
    while not fake_ses.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    finished.append(("other", other._rate()))  # While the slow answer is awaited.
    thread.join()

    assert finished == [("other", 1.0), ("slow", 1.0)]
    assert [r.action for r in fake_ses.requests] == ["GetSendQuota", "GetSendQuota"]
