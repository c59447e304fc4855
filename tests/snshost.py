"""A local stand-in for the SNS certificate host, reached as the real one
would be: through an HTTP proxy (``HTTPS_PROXY``/``HTTP_PROXY``).

:class:`SNSHost` is an HTTPS server on 127.0.0.1 whose TLS certificate, for
``sns.<region>.amazonaws.com``, is issued by a TLS test CA (:data:`TLS_CA`),
so that a client with it in ``REQUESTS_CA_BUNDLE`` accepts it.
Each path answers as told: a status and body, after a delay, or by resetting
or dropping the connection. :class:`Proxy` tunnels every ``CONNECT`` to it
(or refuses the tunnel), and answers plain-http ``GET``\\ s of absolute URLs
(the issuers' ``amazontrust.com`` URLs) from its own routes. Both record what
they were asked.
"""

from __future__ import annotations

import datetime
import select
import socket
import socketserver
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests import snskeys

HOSTS = ("sns.us-east-1.amazonaws.com", "sns.eu-west-1.amazonaws.com", "sns.cn-north-1.amazonaws.com.cn",
         "sns.us-gov-east-1.amazonaws.com")

#: The CA of the host's TLS certificate: apart from the test CA that issues
#: signing certificates, so that tests can take either out of the store.
TLS_CA_KEY = ec.generate_private_key(ec.SECP256R1())
TLS_CA = snskeys.ca_certificate("Test TLS Root", TLS_CA_KEY)
TLS_CA_PEM = TLS_CA.public_bytes(serialization.Encoding.PEM)


def tls_files(directory, *, trusted: bool = True) -> tuple[str, str]:
    """A TLS certificate for :data:`HOSTS` (issued by the TLS CA, or by a
    CA nobody trusts) and its key: their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    if trusted:
        issuer_name, signer = TLS_CA.subject, TLS_CA_KEY
    else:
        signer = ec.generate_private_key(ec.SECP256R1())
        issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nobody's CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTS[0])]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        .sign(signer, hashes.SHA256())
    )
    cert_path, key_path = directory / f"host-{trusted}.pem", directory / f"host-{trusted}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _reset(connection: socket.socket) -> None:
    """Close with a TCP reset rather than a clean end."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
    except OSError:
        pass


class SNSHost:
    """``routes``: path → ``(status, body)``, ``(status, body, headers)``,
    ``("slow", seconds, status, body)``, ``"reset"`` or ``"drop"``. An
    unknown path is a 404. ``requests`` lists (Host header, path)."""

    def __init__(self, directory, *, trusted: bool = True) -> None:
        self.routes: dict[str, object] = {}
        self.requests: list[tuple[str, str]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                host.requests.append((self.headers.get("Host", ""), self.path))
                route = host.routes.get(self.path, (404, b"Not Found"))
                if route == "reset":
                    _reset(self.connection)
                    self.close_connection = True
                    return
                if route == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if route[0] == "slow":
                    time.sleep(route[1])
                    route = route[2:]
                status, body, *headers = route
                self.send_response(status)
                for name, value in (headers[0] if headers else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls_files(directory, trusted=trusted))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> SNSHost:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()


class Proxy:
    """An HTTP proxy on 127.0.0.1. ``CONNECT`` is tunnelled to port
    ``upstream`` on 127.0.0.1 whatever host it names, or answered
    ``refuse_connect`` (e.g. ``"403 Forbidden"``). ``GET http://...`` is
    answered from ``routes`` (URL → (status, body)), else 404. ``requests``
    lists ("CONNECT", host:port) and ("GET", URL)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.refuse_connect: str | None = None
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.requests: list[tuple[str, str]] = []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                client = self.request
                head = b""
                while b"\r\n\r\n" not in head:
                    data = client.recv(4096)
                    if not data:
                        return
                    head += data
                method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
                proxy.requests.append((method, target))
                if method == "CONNECT":
                    self.tunnel(client)
                else:
                    status, body = proxy.routes.get(target, (404, b"Not Found"))
                    client.sendall(
                        f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                        .encode() + body
                    )

            def tunnel(self, client):
                if proxy.refuse_connect:
                    client.sendall(f"HTTP/1.1 {proxy.refuse_connect}\r\nContent-Length: 0\r\n\r\n".encode())
                    return
                upstream = socket.create_connection(("127.0.0.1", proxy.upstream))
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                sockets = [client, upstream]
                try:
                    while True:
                        readable, _, _ = select.select(sockets, [], [], 30)
                        if not readable:
                            return
                        for source in readable:
                            other = upstream if source is client else client
                            try:
                                data = source.recv(65536)
                            except ConnectionResetError:
                                _reset(other)  # Passed on as it came.
                                return
                            if not data:
                                return
                            other.sendall(data)
                finally:
                    upstream.close()

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()
