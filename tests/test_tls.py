"""TLS through the client's direct use of the requests adapter: the
server's certificate is verified, against REQUESTS_CA_BUNDLE when set."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from django_ses_query.client import SESClient
from django_ses_query.conf import get_config
from django_ses_query.credentials import provider_for
from django_ses_query.exceptions import SESTransportError

pytest.importorskip("cryptography")

MESSAGE_ID = "010001a2b3c4d5e6-7f809102-0000-4000-8000-000000000001-000000"
ANSWER = (
    '<SendEmailResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
    f"<SendEmailResult><MessageId>{MESSAGE_ID}</MessageId></SendEmailResult>"
    "<ResponseMetadata><RequestId>11111111-2222-4333-8444-555555555555</RequestId></ResponseMetadata>"
    "</SendEmailResponse>"
).encode()


def self_signed(directory) -> tuple[str, str]:
    """A certificate for 127.0.0.1 signed by itself: (certificate path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture
def tls_endpoint(tmp_path):
    """An HTTPS endpoint answering SendEmail; yields (url, CA file, bodies received)."""
    cert, key = self_signed(tmp_path)
    bodies = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(ANSWER)))
            self.end_headers()
            self.wfile.write(ANSWER)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert, bodies
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def no_ca_bundle(monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def call(url: str):
    config = get_config(endpoint_url=url, max_retries=0)
    client = SESClient(config, provider_for(config))
    client.open()
    try:
        return client.call("SendEmail", {"Source": "a@example.com"})
    finally:
        client.close()


def test_an_untrusted_certificate_fails_before_anything_is_sent(tls_endpoint, no_ca_bundle):
    url, _, bodies = tls_endpoint
    with pytest.raises(SESTransportError) as caught:
        call(url)
    assert caught.value.code == "SSLError"
    assert caught.value.sent is False
    assert bodies == []


def test_the_ca_bundle_from_the_environment_is_trusted(tls_endpoint, no_ca_bundle):
    url, cert, bodies = tls_endpoint
    no_ca_bundle.setenv("REQUESTS_CA_BUNDLE", cert)

    response = call(url)

    assert response.result.message_id == MESSAGE_ID
    assert response.attempts == 1
    [body] = bodies
    assert body.startswith(b"Action=SendEmail&Version=2010-12-01&Source=a%40example.com")
