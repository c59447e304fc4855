"""The transport under the SES client: failures before anything was written,
proxies, the CA bundle and ~/.netrc, keep-alive connections closed by the
server, and the classification of requests' exceptions (not sent / outcome
unknown), against local endpoints.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
import threading
import time
from unittest import mock

import pytest
import requests
import urllib3

from django_ses_query.transport import endpoint as endpoint_module
from django_ses_query.transport.adapter import NOT_WRITTEN, WRITTEN
from django_ses_query.transport.failures import classify
from django_ses_query.exceptions import (
    SESError,
    SESTransportError,
)
from tests.fakeses import (
    FakeSES,
    raw,
    refused_endpoint,
    reset_connection,
)
from tests.sesclient import URLLIB3_1, send


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

    proxies, verify = endpoint_module.environment_settings(url)

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
    error = classify(make_error(), state)
    assert isinstance(error, SESTransportError)
    assert (error.code, error.sent) == (code, sent)
    assert error.retryable is (not sent)


@pytest.mark.parametrize("status, sent", [(200, True), (503, False), (400, False)])
def test_a_broken_body_is_an_incomplete_answer_with_its_status(status, sent):
    error = classify(requests.exceptions.ChunkedEncodingError("broken"), WRITTEN, status)
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
    error = classify(requests.exceptions.SSLError("certificate verify failed"), NOT_WRITTEN)
    assert client.should_retry(error) is False


def test_the_connection_records_whether_the_request_was_written(make_client, fake_ses, monkeypatch):
    states = []
    real = endpoint_module.classify

    def spy(error, state=None, http_status=None, service="SES"):
        states.append(state)
        return real(error, state, http_status, service)

    monkeypatch.setattr(endpoint_module, "classify", spy)
    fake_ses.enqueue(reset_connection())
    with pytest.raises(SESTransportError):
        send(make_client())
    with pytest.raises(SESTransportError):
        send(make_client(refused_endpoint(), max_retries=0))
    assert states == [WRITTEN, NOT_WRITTEN]
