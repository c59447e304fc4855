"""The webhook against a local HTTPS server impersonating the SNS
certificate host (tests/snshost.py), reached through a local proxy as the
real host would be: what each failure of the host answers (503, so SNS
retries, or 403), each kind of certificate, and what is remembered."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlsplit

import pytest

from django_ses_query.events import certificates
from django_ses_query.models import EmailEvent
from tests import sesevents, snskeys
from tests.snshost import TLS_CA_PEM, Proxy, SNSHost
from tests.snskeys import CERT_PEM, CERT_URL, ISSUER_URL, KEY, TOPIC_ARN, envelope

pytestmark = pytest.mark.django_db

URL = "/ses/events/"
MID = "0100018c4f6a1b2c-11111111-2222-3333-4444-555555555555-000000"
CERT_PATH = urlsplit(CERT_URL).path
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


def use_proxy(monkeypatch, url: str) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", url)
    monkeypatch.setenv("HTTP_PROXY", url)


@pytest.fixture
def host(tmp_path, monkeypatch, sns_ca_bundle, settings):
    """The SNS host serving the test certificate, the proxy in front of it
    (``host.proxy``), the environment pointing at both; the trust store
    holds the host's TLS CA and the test CA."""
    sns_ca_bundle.write_bytes(TLS_CA_PEM + snskeys.CA_PEM)
    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_TOPIC_ARNS": [TOPIC_ARN]}
    with SNSHost(tmp_path) as server, Proxy(server.port) as proxy:
        use_proxy(monkeypatch, proxy.url)
        server.proxy = proxy
        server.routes[CERT_PATH] = (200, CERT_PEM)
        certificates.clear_cache()
        yield server
        certificates.clear_cache()


def post(client, message=None, **fields):
    message = message or envelope(message=sesevents.delivery(MID, "a@example.net"), **fields)
    return client.post(URL, json.dumps(message), content_type="text/plain; charset=UTF-8")


def fetches(host, path=CERT_PATH) -> int:
    return [p for _, p in host.requests].count(path)


def ours(caplog, level):
    return [r for r in caplog.records if r.name == "django_ses_query" and r.levelno == level]


def assert_one_line(caplog, level):
    """One record at ``level`` from this app, without a traceback or a
    line break; nothing at a higher level."""
    [record] = ours(caplog, level)
    assert record.exc_info is None and record.exc_text is None
    assert len(record.getMessage().splitlines()) == 1
    assert not [r for r in caplog.records if r.name == "django_ses_query" and r.levelno > level]
    return record


def test_through_the_proxy_with_tls_verified(client, host):
    response = post(client)
    assert response.status_code == 200
    assert EmailEvent.objects.count() == 1
    assert host.requests == [("sns.us-east-1.amazonaws.com", CERT_PATH)]
    assert host.proxy.requests == [("CONNECT", "sns.us-east-1.amazonaws.com:443")]


# -- Transient failures of the host: 503, one ERROR line, SNS retries ----------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
def test_an_error_of_the_host_is_503(client, host, caplog, status):
    host.routes[CERT_PATH] = (status, b"busy")
    with caplog.at_level(logging.INFO):
        response = post(client)
    assert response.status_code == 503
    assert EmailEvent.objects.count() == 0
    assert f"HTTP {status}" in assert_one_line(caplog, logging.ERROR).getMessage()


@pytest.mark.parametrize("route", ["reset", "drop", ("slow", 1.5, 200, CERT_PEM)], ids=["reset", "drop", "timeout"])
def test_a_broken_connection_is_503(client, host, caplog, monkeypatch, route):
    monkeypatch.setattr(certificates, "TIMEOUT", 0.5)
    host.routes[CERT_PATH] = route
    with caplog.at_level(logging.INFO):
        started = time.monotonic()
        response = post(client)
    assert response.status_code == 503
    assert time.monotonic() - started < 1.4  # One attempt, within the timeout.
    assert_one_line(caplog, logging.ERROR)
    assert fetches(host) == 1


def test_a_proxy_refusing_connect_is_503(client, host, caplog):
    host.proxy.refuse_connect = "403 Forbidden"
    with caplog.at_level(logging.INFO):
        assert post(client).status_code == 503
    assert "403 Forbidden" in assert_one_line(caplog, logging.ERROR).getMessage()
    assert host.requests == []


def test_a_refused_connection_is_503(client, host, caplog, monkeypatch):
    closed = socket_port_nobody_listens_on()
    use_proxy(monkeypatch, f"http://127.0.0.1:{closed}")
    with caplog.at_level(logging.INFO):
        assert post(client).status_code == 503
    assert "refused" in assert_one_line(caplog, logging.ERROR).getMessage().lower()


def test_a_dns_failure_is_503_and_the_proxy_password_is_not_logged(client, host, caplog, monkeypatch):
    use_proxy(monkeypatch, "http://user:pr0xy-s3cret@proxy.invalid:3128")  # .invalid never resolves.
    with caplog.at_level(logging.INFO):
        assert post(client).status_code == 503
    assert_one_line(caplog, logging.ERROR)
    assert "pr0xy-s3cret" not in caplog.text


def test_a_tls_error_is_503(client, host, caplog, tmp_path):
    with SNSHost(tmp_path, trusted=False) as impostor:
        impostor.routes[CERT_PATH] = (200, CERT_PEM)
        host.proxy.upstream = impostor.port
        with caplog.at_level(logging.INFO):
            assert post(client).status_code == 503
        assert impostor.requests == []  # Nothing sent over an unverified connection.
    assert "TLS" in assert_one_line(caplog, logging.ERROR).getMessage()


def test_a_transient_failure_is_remembered_briefly_and_sns_retry_succeeds(client, host, monkeypatch):
    assert certificates.UNAVAILABLE_SECONDS <= 5  # SNS retries after 20 s.
    monkeypatch.setattr(certificates, "UNAVAILABLE_SECONDS", 0.3)
    host.routes[CERT_PATH] = (503, b"busy")
    message = envelope(message=sesevents.delivery(MID, "a@example.net"))
    assert post(client, message).status_code == 503
    host.routes[CERT_PATH] = (200, CERT_PEM)
    assert post(client, message).status_code == 503  # Remembered: not asked again.
    assert fetches(host) == 1
    time.sleep(0.35)
    assert post(client, message).status_code == 200  # SNS's retry, once the host is back.
    assert fetches(host) == 2
    assert EmailEvent.objects.count() == 1


# -- Known to be wrong: 403, remembered for an hour -------------------------------------------


@pytest.mark.parametrize(
    "route, problem",
    [
        ((404, b"Not Found"), "HTTP 404"),
        ((403, b"AccessDenied"), "HTTP 403"),
        ((410, b"Gone"), "HTTP 410"),
        ((400, b"Bad"), "HTTP 400"),
        ((302, b"", {"Location": "https://sns.us-east-1.amazonaws.com/x.pem"}), "HTTP 302"),
        ((200, b"<html>hello</html>"), "X.509"),
        ((200, CERT_PEM + b"x" * certificates.MAX_BYTES), "larger"),
    ],
)
def test_an_answer_known_to_be_wrong_is_403(client, host, caplog, route, problem):
    host.routes[CERT_PATH] = route
    with caplog.at_level(logging.INFO):
        assert post(client).status_code == 403
    assert problem in assert_one_line(caplog, logging.WARNING).getMessage()
    assert fetches(host) == 1  # A redirect is not followed.


def test_five_forged_posts_naming_a_refused_url_fetch_once(client, host, caplog):
    host.routes[CERT_PATH] = (404, b"Not Found")
    assert certificates.REFUSED_SECONDS >= 3600
    for _ in range(5):
        assert post(client).status_code == 403
    assert fetches(host) == 1
    host.routes[CERT_PATH] = (200, CERT_PEM)
    assert post(client).status_code == 403  # Still remembered.
    assert fetches(host) == 1


def test_concurrent_messages_naming_a_refused_url_fetch_once(host):
    import threading

    from django_ses_query.events.sns import CertificateRefused

    host.routes[CERT_PATH] = ("slow", 0.3, 404, b"Not Found")
    outcomes = []

    def verify():
        try:
            certificates.get_certificate(CERT_URL)
        except CertificateRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=verify) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == ["refused"] * 5
    assert fetches(host) == 1


def test_a_certificate_is_fetched_once_for_many_messages(client, host):
    for _ in range(3):
        assert post(client).status_code == 200
    assert post(client, envelope(key=snskeys.OTHER_KEY)).status_code == 403  # Forged: signature.
    assert fetches(host) == 1


# -- Kinds of certificate ------------------------------------------------------------------


def _serve(host, *names, **options):
    host.routes[CERT_PATH] = (200, snskeys.issue(KEY, *names, **options))


@pytest.mark.parametrize(
    "names, options, problem",
    [
        (("sns.amazonaws.com",), {"issuer": "self"}, "CA Issuers"),
        (("*.amazonaws.com",), {}, "none of"),
        (("sns.amazonaws.com.evil.example",), {}, "none of"),
        (("evil.example",), {}, "none of"),
        (("sns-signing.eu-west-1.amazonaws.com",), {}, "none of"),  # Another region's name.
        (("sns.amazonaws.com.cn",), {}, "none of"),  # A China name from a global host.
        (("sns.amazonaws.com",), {"issuer": "intermediate"}, "CA Issuers"),  # Issuer nowhere to be found.
        (("sns.amazonaws.com",), {"issuer": "intermediate", "issuer_url": "http://crt.evil.example/m01.cer"},
         "amazontrust.com"),
        (("sns.amazonaws.com",), {"issuer": "intermediate",
                                  "issuer_url": "http://crt.test-m01.amazontrust.com.evil.example/m.cer"},
         "amazontrust.com"),
    ],
)
def test_a_certificate_that_is_not_sns_s_is_403(client, host, caplog, names, options, problem):
    _serve(host, *names, **options)
    with caplog.at_level(logging.INFO):
        assert post(client).status_code == 403
    assert problem in assert_one_line(caplog, logging.WARNING).getMessage()
    assert EmailEvent.objects.count() == 0
    assert [m for m, _ in host.proxy.requests if m == "GET"] == []  # No issuer fetched off amazontrust.com.


def test_a_certificate_whose_ca_is_not_in_the_store_is_403(client, host, sns_ca_bundle, caplog):
    sns_ca_bundle.write_bytes(TLS_CA_PEM)  # The host's TLS still verifies; the test CA is out.
    with caplog.at_level(logging.INFO):
        assert post(client).status_code == 403
    assert "CA Issuers" in assert_one_line(caplog, logging.WARNING).getMessage()


def test_an_issuer_chaining_to_no_root_of_the_store_is_403(client, host, sns_ca_bundle, caplog):
    sns_ca_bundle.write_bytes(TLS_CA_PEM)
    _serve(host, issuer="intermediate", issuer_url=ISSUER_URL)
    host.proxy.routes[ISSUER_URL] = (200, snskeys.INTERMEDIATE_DER)  # Path material, not a root.
    with caplog.at_level(logging.INFO):
        assert post(client).status_code == 403
    assert "does not chain" in assert_one_line(caplog, logging.WARNING).getMessage()


@pytest.mark.parametrize("names", [("sns.amazonaws.com",), ("sns-signing.us-east-1.amazonaws.com",),
                                   ("www.example.com", "sns.amazonaws.com")])
def test_sns_s_names_are_accepted(client, host, names):
    _serve(host, *names)
    assert post(client).status_code == 200


def test_the_issuer_comes_from_the_ca_issuers_url(client, host):
    _serve(host, issuer="intermediate", issuer_url=ISSUER_URL)
    host.proxy.routes[ISSUER_URL] = (200, snskeys.INTERMEDIATE_DER)
    assert post(client).status_code == 200
    assert post(client, envelope(message=sesevents.delivery(MID, "b@example.net"))).status_code == 200
    assert host.proxy.requests.count(("GET", ISSUER_URL)) == 1  # Cached by URL.


def test_the_issuer_in_pem_is_accepted_too(client, host):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    pem = x509.load_der_x509_certificate(snskeys.INTERMEDIATE_DER).public_bytes(serialization.Encoding.PEM)
    _serve(host, issuer="intermediate", issuer_url=ISSUER_URL)
    host.proxy.routes[ISSUER_URL] = (200, pem)
    assert post(client).status_code == 200


@pytest.mark.parametrize("route, status", [((404, b""), 403), ((200, b"nonsense"), 403),
                                           ((200, b"x" * 20000), 403), ((503, b""), 503)])
def test_an_issuer_that_cannot_be_had(client, host, caplog, route, status):
    _serve(host, issuer="intermediate", issuer_url=ISSUER_URL)
    host.proxy.routes[ISSUER_URL] = route
    with caplog.at_level(logging.INFO):
        assert post(client).status_code == status
    assert_one_line(caplog, logging.ERROR if status == 503 else logging.WARNING)


def test_an_expired_certificate_is_checked_as_of_its_last_valid_moment(client, host):
    _serve(host, not_after=snskeys.now() - snskeys.DAY)
    assert post(client).status_code == 200


def test_the_trust_store_is_read_when_the_check_runs(client, host, sns_ca_bundle, monkeypatch, tmp_path):
    """Changing REQUESTS_CA_BUNDLE, or the file it names, needs no restart;
    CURL_CA_BUNDLE is next in line."""
    sns_ca_bundle.write_bytes(TLS_CA_PEM)
    assert post(client).status_code == 403
    sns_ca_bundle.write_bytes(TLS_CA_PEM + snskeys.CA_PEM)
    assert post(client).status_code == 200
    elsewhere = tmp_path / "elsewhere.pem"
    elsewhere.write_bytes(TLS_CA_PEM)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(elsewhere))
    assert post(client).status_code == 403
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.setenv("CURL_CA_BUNDLE", str(sns_ca_bundle))
    assert post(client).status_code == 200


def socket_port_nobody_listens_on() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_certificate_url_in_another_region_than_the_topic_is_refused_unfetched(client, events_on):
    """A forged message may name any SNS host: one outside its topic's region
    is refused (403) before a single fetch."""
    other = CERT_URL.replace(f"sns.{snskeys.REGION}.", "sns.eu-west-3.")
    assert other != CERT_URL
    message = envelope(message=sesevents.delivery(MID, "a@example.net"), SigningCertURL=other)
    assert post(client, message).status_code == 403
    assert events_on.requests == []
    assert not EmailEvent.objects.exists()
