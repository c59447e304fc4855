"""Local stand-ins for the services that hand out AWS credentials, and an SES
endpoint that checks every signature against the credentials they issued.

* :class:`Issuer`: issues temporary credentials (key, secret, token, expiry
  on a clock the test controls) and remembers them.
* :class:`CheckingSES`: a Query API endpoint that accepts SendEmail /
  SendRawEmail only when the SigV4 signature (computed independently with
  botocore) and the session token match credentials the issuer handed out,
  and answers ``ExpiredToken`` once they have expired.
* :class:`FakeIMDS`: EC2 instance metadata, IMDSv2 (or v1 only, hanging, or
  malformed JSON).
* :class:`FakeContainer`: the ECS / EKS Pod Identity credentials endpoint.
* :class:`FakeSTS`: STS AssumeRole / AssumeRoleWithWebIdentity that records
  what it was sent.

All listen on 127.0.0.1 only. Standard library and botocore only.
"""

from __future__ import annotations

import http.server
import itertools
import json
import secrets
import socketserver
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

SES_NAMESPACE = "http://ses.amazonaws.com/doc/2010-12-01/"
STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"


class FakeClock:
    """Wall-clock seconds that only move when told (starts at real time)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Issued:
    access_key_id: str
    secret_access_key: str
    session_token: str | None
    expiration: float | None


class Issuer:
    """Hands out credentials and remembers them (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.time, lifetime: float = 3600) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self.issued: list[Issued] = []

    def issue(self, *, temporary: bool = True) -> Issued:
        number = next(self._numbers)
        credentials = Issued(
            access_key_id=f"ASIAFAKE{number:012d}" if temporary else f"AKIAFAKE{number:012d}",
            secret_access_key=f"secret-{number}-{secrets.token_hex(16)}",
            session_token=f"token-{number}-{secrets.token_hex(24)}" if temporary else None,
            expiration=self.clock() + self.lifetime if temporary else None,
        )
        with self._lock:
            self.issued.append(credentials)
        return credentials

    def find(self, access_key_id: str) -> Issued | None:
        with self._lock:
            return next((c for c in self.issued if c.access_key_id == access_key_id), None)

    def secrets(self) -> list[str]:
        """Every secret and token handed out (must never be printed)."""
        with self._lock:
            return [s for c in self.issued for s in (c.secret_access_key, c.session_token) if s]


# --------------------------------------------------------------------------
# A small threaded HTTP server
# --------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


HANG = object()  # Never answer (until the server stops).


class LocalServer:
    """Calls ``self.answer(request)`` for each request; records them all.
    Listens on ``port`` (default: any free one)."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with outer._lock:
                    outer.received.append(request)
                answer = outer.answer(request)
                if answer is HANG:
                    outer._stopping.wait(30)
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_PUT = do_POST = _handle

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def server_bind(self):
                socketserver.TCPServer.server_bind(self)
                self.server_name, self.server_port = self.server_address[:2]

        self._server = Server(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def answer(self, request: Received):
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)


# --------------------------------------------------------------------------
# SES that checks signatures
# --------------------------------------------------------------------------


def _ses_error(status: int, code: str, message: str) -> Answer:
    body = (
        f'<ErrorResponse xmlns="{SES_NAMESPACE}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    return Answer(status, body, {"Content-Type": "text/xml"})


def signature_problem(request: Received, host: str, issuer: Issuer, service: str) -> tuple[str, str] | None:
    """None if the request is signed with credentials ``issuer`` handed out;
    else (error code, message). The expected signature is botocore's."""
    authorization = request.headers.get("authorization", "")
    try:
        algorithm, _, rest = authorization.partition(" ")
        parts = dict(item.strip().split("=", 1) for item in rest.split(","))
        key, date, region, scope_service, terminator = parts["Credential"].split("/")
        signed = parts["SignedHeaders"].split(";")
        signature = parts["Signature"]
    except (KeyError, ValueError):
        return "IncompleteSignature", "Authorization header missing or malformed"
    if algorithm != "AWS4-HMAC-SHA256" or terminator != "aws4_request" or scope_service != service:
        return "IncompleteSignature", "wrong algorithm or scope"
    issued = issuer.find(key)
    if issued is None:
        return "InvalidClientTokenId", "The security token included in the request is invalid."
    if request.headers.get("x-amz-security-token") != issued.session_token:
        return "InvalidClientTokenId", "The security token included in the request is invalid."
    if issued.session_token and "x-amz-security-token" not in signed:
        return "IncompleteSignature", "the session token is not signed"
    if "host" not in signed or request.headers.get("host") != host:
        return "SignatureDoesNotMatch", "Host not signed, or not this endpoint"
    amz_date = request.headers.get("x-amz-date", "")
    if amz_date[:8] != date:
        return "SignatureDoesNotMatch", "X-Amz-Date does not match the scope"
    reference = AWSRequest(
        method=request.method,
        url=f"http://{host}{request.path}",
        data=request.body,
        headers={name: request.headers[name] for name in signed if name in request.headers},
    )
    reference.context["timestamp"] = amz_date
    auth = SigV4Auth(BotoCredentials(key, issued.secret_access_key, issued.session_token), service, region)
    canonical = auth.canonical_request(reference)
    expected = auth.signature(auth.string_to_sign(reference, canonical), reference)
    if expected != signature:
        return "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."
    if issued.expiration is not None and issuer.clock() >= issued.expiration:
        return "ExpiredToken", "The security token included in the request is expired"
    return None


class CheckingSES(LocalServer):
    """SES's SendEmail / SendRawEmail, for credentials ``issuer`` issued only.

    ``sent`` lists the access key id each accepted send was signed with.
    """

    def __init__(self, issuer: Issuer) -> None:
        super().__init__()
        self.issuer = issuer
        self.sent: list[str] = []
        self.refused: list[str] = []
        #: Answer ExpiredToken to every correctly signed request.
        self.answer_expired_token = False

    def answer(self, request: Received) -> Answer:
        problem = signature_problem(request, f"127.0.0.1:{self.port}", self.issuer, "ses")
        if problem is None and self.answer_expired_token:
            problem = ("ExpiredToken", "The security token included in the request is expired")
        if problem is not None:
            with self._lock:
                self.refused.append(problem[0])
            return _ses_error(403 if problem[0] != "ExpiredToken" else 400, *problem)
        action = request.params.get("Action")
        key = request.headers["authorization"].split("Credential=")[1].split("/")[0]
        with self._lock:
            self.sent.append(key)
        message_id = f"{uuid.uuid4()}-000000"
        body = (
            f'<{action}Response xmlns="{SES_NAMESPACE}"><{action}Result><MessageId>{message_id}</MessageId>'
            f"</{action}Result><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            f"</{action}Response>"
        ).encode()
        return Answer(200, body, {"Content-Type": "text/xml"})


# --------------------------------------------------------------------------
# Credential services
# --------------------------------------------------------------------------


def credentials_json(issued: Issued, token_key: str = "Token", **extra) -> bytes:
    data = {
        "AccessKeyId": issued.access_key_id,
        "SecretAccessKey": issued.secret_access_key,
        token_key: issued.session_token,
        "Expiration": iso(issued.expiration),
        **extra,
    }
    return json.dumps(data).encode()


class FakeIMDS(LocalServer):
    """EC2 instance metadata. ``mode``: "v2" (a token is required), "v1"
    (the token PUT gets 403, as an IMDSv1-only service), "hang" (never
    answers), "malformed" (credentials that are not JSON), "no-role"."""

    ROLE = "ses-sender-role"

    def __init__(self, issuer: Issuer, mode: str = "v2", port: int = 0) -> None:
        super().__init__(port)
        self.issuer = issuer
        self.mode = mode
        self.tokens: set[str] = set()

    def answer(self, request: Received):
        if self.mode == "hang":
            return HANG
        if request.path == "/latest/api/token":
            if self.mode == "v1" or request.method != "PUT":
                return Answer(403 if self.mode == "v1" else 405)
            if not request.headers.get("x-aws-ec2-metadata-token-ttl-seconds"):
                return Answer(400)
            token = secrets.token_hex(16)
            with self._lock:
                self.tokens.add(token)
            return Answer(200, token.encode())
        if self.mode != "v1" and request.headers.get("x-aws-ec2-metadata-token") not in self.tokens:
            return Answer(401)
        base = "/latest/meta-data/iam/security-credentials/"
        if request.path == base:
            return Answer(404) if self.mode == "no-role" else Answer(200, self.ROLE.encode())
        if request.path == base + self.ROLE:
            if self.mode == "malformed":
                return Answer(200, b'{"Code": "Success", "AccessKeyId": "ASIA')
            issued = self.issuer.issue()
            return Answer(200, credentials_json(issued, Code="Success", Type="AWS-HMAC"))
        return Answer(404)


class FakeContainer(LocalServer):
    """The ECS / EKS Pod Identity agent: GET ``path`` with ``Authorization:
    <token>`` (when ``token`` is set) answers new credentials."""

    def __init__(self, issuer: Issuer, path: str = "/v2/credentials/task", token: str | None = None) -> None:
        super().__init__()
        self.issuer = issuer
        self.path = path
        self.token = token
        self.malformed = False

    def answer(self, request: Received) -> Answer:
        if request.path != self.path:
            return Answer(404, b'{"code": "NotFound", "message": "no such path"}')
        if self.token is not None and request.headers.get("authorization") != self.token:
            return Answer(401, b'{"code": "AccessDenied", "message": "bad authorization token"}')
        if self.malformed:
            return Answer(200, b"<html>not json</html>")
        return Answer(200, credentials_json(self.issuer.issue()))


class FakeSTS(LocalServer):
    """STS's AssumeRole (signature checked against ``signers``) and
    AssumeRoleWithWebIdentity (unsigned); answers credentials from ``issuer``."""

    def __init__(self, issuer: Issuer, signers: Issuer | None = None) -> None:
        super().__init__()
        self.issuer = issuer
        self.signers = signers or issuer
        self.refuse: str | None = None

    def answer(self, request: Received) -> Answer:
        params = request.params
        action = params.get("Action")
        if self.refuse:
            body = (
                f'<ErrorResponse xmlns="{STS_NAMESPACE}"><Error><Type>Sender</Type><Code>{self.refuse}</Code>'
                f"<Message>Not authorized to perform sts:{action}</Message></Error>"
                f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
            ).encode()
            return Answer(403, body, {"Content-Type": "text/xml"})
        if action == "AssumeRole":
            problem = signature_problem(request, f"127.0.0.1:{self.port}", self.signers, "sts")
            if problem is not None:
                return Answer(403, f"<ErrorResponse><Error><Code>{problem[0]}</Code></Error></ErrorResponse>".encode())
        elif action != "AssumeRoleWithWebIdentity" or "authorization" in request.headers:
            return Answer(400, b"<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>")
        issued = self.issuer.issue()
        body = (
            f'<{action}Response xmlns="{STS_NAMESPACE}"><{action}Result>'
            f"<Credentials><AccessKeyId>{issued.access_key_id}</AccessKeyId>"
            f"<SecretAccessKey>{issued.secret_access_key}</SecretAccessKey>"
            f"<SessionToken>{issued.session_token}</SessionToken>"
            f"<Expiration>{iso(issued.expiration)}</Expiration></Credentials>"
            f"</{action}Result><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            f"</{action}Response>"
        ).encode()
        return Answer(200, body, {"Content-Type": "text/xml"})


# --------------------------------------------------------------------------
# Fixtures (import them into a test module to use them)
# --------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The credentials' clock, moved by the test."""
    from django_ses_query.credentials import refresh

    fake = FakeClock()
    monkeypatch.setattr(refresh, "clock", fake)
    return fake


@pytest.fixture
def issuer(clock):
    return Issuer(clock)


@pytest.fixture
def ses(issuer, settings):
    """SES_QUERY without keys, pointed at a signature-checking SES."""
    with CheckingSES(issuer) as server:
        settings.SES_QUERY = {"ENDPOINT_URL": server.url, "MAX_RETRIES": 0, "LOG": False}
        yield server


def send(backend=None) -> int:
    from django.core.mail import EmailMessage

    from django_ses_query.backend import EmailBackend

    backend = backend or EmailBackend()
    return backend.send_messages([EmailMessage("Hi", "Body", "from@example.com", ["to@example.com"])])
