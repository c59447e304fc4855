"""A scriptable, local Amazon SES Query API endpoint for tests.

Tests talk to it over real HTTP, so everything below the ``requests`` call
(connection pooling, keep-alive, timeouts, resets) behaves as it would against
SES. Standard library only.

    with FakeSES() as ses:
        ses.enqueue(error("Throttling"), delay(5.0), reset_connection())
        ...  # point the client at ses.endpoint_url
        assert [r.action for r in ses.sent] == ["SendEmail"]

Scripted responses are consumed first in, first out, one per request; once the
queue is empty every request gets the default success for its ``Action``.
"""

from __future__ import annotations

import http.client
import http.server
import json
import select
import socket
import socketserver
import struct
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "DTD_EXTERNAL",
    "ENTITY_BOMB",
    "HTML_502",
    "NOT_XML",
    "RESPONSES_DIR",
    "CloseBeforeReading",
    "BulkStatus",
    "Delay",
    "FakeSES",
    "Ok",
    "Recorded",
    "Reply",
    "ResetConnection",
    "Response",
    "close_before_reading",
    "delay",
    "bulk_status",
    "error",
    "free_port",
    "new_message_id",
    "ok",
    "raw",
    "refused_endpoint",
    "reset_connection",
    "response_file",
    "xml",
]

RESPONSES_DIR = Path(__file__).resolve().parent / "ses_responses"
SES_NAMESPACE = "http://ses.amazonaws.com/doc/2010-12-01/"
SEND_ACTIONS = frozenset({"SendEmail", "SendRawEmail", "SendTemplatedEmail"})
BULK_ACTION = "SendBulkTemplatedEmail"

# Actions whose default success is a file from RESPONSES_DIR.
_CANNED_SUCCESS = {
    "GetSendQuota": "get_send_quota_ok.xml",
    "GetSendStatistics": "get_send_statistics_ok.xml",
}


# --------------------------------------------------------------------------
# Hostile and broken bodies
# --------------------------------------------------------------------------


def _billion_laughs() -> bytes:
    entities = ['  <!ENTITY lol0 "lol">']
    for level in range(1, 10):
        entities.append(f'  <!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">')
    return (
        '<?xml version="1.0"?>\n'
        "<!DOCTYPE SendEmailResponse [\n" + "\n".join(entities) + "\n]>\n"
        f'<SendEmailResponse xmlns="{SES_NAMESPACE}">'
        "<SendEmailResult><MessageId>&lol9;</MessageId></SendEmailResult>"
        "<ResponseMetadata><RequestId>&lol9;</RequestId></ResponseMetadata>"
        "</SendEmailResponse>\n"
    ).encode("ascii")


#: "Billion laughs": nested entities that expand to ~3 GB if a parser allows it.
ENTITY_BOMB = _billion_laughs()

#: An external entity: a parser that resolves it reads a local file.
DTD_EXTERNAL = (
    '<?xml version="1.0"?>\n'
    "<!DOCTYPE SendEmailResponse [\n"
    '  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n'
    "]>\n"
    f'<SendEmailResponse xmlns="{SES_NAMESPACE}">'
    "<SendEmailResult><MessageId>&xxe;</MessageId></SendEmailResult>"
    "<ResponseMetadata><RequestId>&xxe;</RequestId></ResponseMetadata>"
    "</SendEmailResponse>\n"
).encode("ascii")

#: A body that is not XML at all.
NOT_XML = b"Service temporarily unavailable, please try again later.\n"

#: What a reverse proxy or load balancer in front of the endpoint answers.
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
    b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


# --------------------------------------------------------------------------
# Scripted responses
# --------------------------------------------------------------------------


class Response:
    """Base class of everything that can be passed to :meth:`FakeSES.enqueue`."""


@dataclass(frozen=True)
class Ok(Response):
    """The default success for the request's Action (see :func:`ok`)."""

    message_id: str | None = None


@dataclass(frozen=True)
class Reply(Response):
    """A fixed HTTP answer (see :func:`xml` and :func:`raw`)."""

    status: int
    body: bytes
    content_type: str = "text/xml"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Delay(Response):
    """Wait, then answer with ``then`` (see :func:`delay`)."""

    seconds: float
    then: Response = field(default_factory=Ok)


@dataclass(frozen=True)
class BulkStatus(Response):
    """A ``SendBulkTemplatedEmail`` success with one status per destination
    (see :func:`bulk_status`)."""

    statuses: tuple = ()


@dataclass(frozen=True)
class ResetConnection(Response):
    """Read the request, then abort the connection with a TCP RST."""


@dataclass(frozen=True)
class CloseBeforeReading(Response):
    """Close the connection once a request arrives, without reading it."""


def ok(message_id: str | None = None) -> Ok:
    """The success SES gives for the Action.

    SendEmail / SendRawEmail get a fresh, unique MessageId (or ``message_id``)
    and count in :attr:`FakeSES.sent`; GetSendQuota / GetSendStatistics get
    the canned bodies; any other Action gets an empty ``<ActionResult/>``.
    A request without an Action gets SES's 400 ``MissingAction``.
    """
    return Ok(message_id)


def bulk_status(*statuses) -> BulkStatus:
    """A ``SendBulkTemplatedEmail`` answer (HTTP 200), destination by
    destination: ``"Success"`` (a new MessageId), an error code
    (``"MessageRejected"``) or ``(code, error text)``, ``None`` for a member
    left out, or ``"moto"`` for a member with a MessageId and no Status.
    Destinations beyond those given succeed."""
    return BulkStatus(tuple(statuses))


def _bulk_body(count: int, statuses: tuple) -> tuple[list[str], bytes]:
    members, ids = [], []
    for index in range(count):
        status = statuses[index] if index < len(statuses) else "Success"
        if status is None:
            continue
        if status in ("Success", "moto"):
            ids.append(new_message_id())
            head = "<Status>Success</Status>" if status == "Success" else ""
            members.append(f"<member>{head}<MessageId>{ids[-1]}</MessageId></member>")
            continue
        code, text = status if isinstance(status, tuple) else (status, f"{status} for destination {index + 1}.")
        members.append(f"<member><Status>{code}</Status><Error>{text}</Error></member>")
    return ids, (
        f'<{BULK_ACTION}Response xmlns="{SES_NAMESPACE}">\n'
        f"  <{BULK_ACTION}Result><Status>{''.join(members)}</Status></{BULK_ACTION}Result>\n"
        f"  <ResponseMetadata>\n    <RequestId>{uuid.uuid4()}</RequestId>\n  </ResponseMetadata>\n"
        f"</{BULK_ACTION}Response>\n"
    ).encode("utf-8")


def destination_count(params: dict[str, str]) -> int:
    """How many destinations a SendBulkTemplatedEmail request has."""
    return len({name.split(".")[2] for name in params if name.startswith("Destinations.member.")})


def response_file(name: str) -> bytes:
    """The bytes of ``name`` in :data:`RESPONSES_DIR`."""
    path = RESPONSES_DIR / name
    if path.parent != RESPONSES_DIR or not path.is_file():
        raise FileNotFoundError(f"no SES response file named {name!r} in {RESPONSES_DIR}")
    return path.read_bytes()


def _to_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def xml(status: int, body_or_filename: bytes | str, **headers: str) -> Reply:
    """Answer ``status`` with an XML body.

    ``body_or_filename`` is the body itself, or the name of a file in
    :data:`RESPONSES_DIR` (``xml(400, "error_Throttling_rate.xml")``).
    Extra keyword arguments become response headers (underscores become
    dashes: ``retry_after="1"`` sends ``Retry-After: 1``).
    """
    if isinstance(body_or_filename, str) and body_or_filename.endswith(".xml") and "<" not in body_or_filename:
        body = response_file(body_or_filename)
    else:
        body = _to_bytes(body_or_filename)
    return Reply(status, body, "text/xml", _header_items(headers))


def raw(status: int, body: bytes | str, content_type: str = "text/html", **headers: str) -> Reply:
    """Answer ``status`` with any body, e.g. ``raw(502, HTML_502)``."""
    return Reply(status, _to_bytes(body), content_type, _header_items(headers))


def _header_items(headers: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((name.replace("_", "-").title(), str(value)) for name, value in headers.items())


def _index() -> dict[str, dict]:
    return json.loads(response_file("index.json"))


def error(code: str, **headers: str) -> Reply:
    """An SES error answer from :data:`RESPONSES_DIR`, with its real HTTP status.

    ``code`` is an error code (``"Throttling"``, ``"MessageRejected"``), which
    picks the first ``error_*.xml`` with that code in ``index.json``, or a file
    name without the ``error_`` prefix and ``.xml`` suffix to pick a variant
    (``"Throttling_daily"``, ``"SignatureDoesNotMatch_expired"``).
    """
    index = _index()
    filename = f"error_{code}.xml"
    if filename not in index:
        matches = [name for name, meta in index.items() if name.startswith("error_") and meta.get("code") == code]
        if not matches:
            known = sorted({meta["code"] for name, meta in index.items() if "code" in meta})
            raise KeyError(f"no SES error response for {code!r}; known codes: {', '.join(known)}")
        filename = matches[0]
    return xml(index[filename]["status"], filename, **headers)


def delay(seconds: float, then: Response | None = None) -> Delay:
    """Wait ``seconds`` after reading the request, then answer with ``then``
    (default :func:`ok`). The wait ends early, without an answer, on
    :meth:`FakeSES.stop`."""
    return Delay(seconds, Ok() if then is None else then)


def reset_connection() -> ResetConnection:
    """Read the request, then reset the connection without answering."""
    return ResetConnection()


def close_before_reading() -> CloseBeforeReading:
    """Close the connection as soon as a request arrives on it, unread.

    The request is not recorded: as far as the endpoint knows, it never came.
    """
    return CloseBeforeReading()


def new_message_id() -> str:
    """A unique MessageId in SES's format (``0100018c…-<uuid>-000000``)."""
    millis = int(time.time() * 1000)
    return f"{(0x01 << 56) | millis:016x}-{uuid.uuid4()}-000000"


def _success_body(action: str | None, message_id: str | None) -> tuple[int, bytes]:
    request_id = uuid.uuid4()
    if not action:
        return 400, (
            f'<ErrorResponse xmlns="{SES_NAMESPACE}">\n'
            "  <Error>\n    <Type>Sender</Type>\n    <Code>MissingAction</Code>\n"
            "    <Message>The request must contain the parameter Action.</Message>\n"
            f"  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n"
        ).encode("utf-8")
    if action in _CANNED_SUCCESS:
        return 200, response_file(_CANNED_SUCCESS[action])
    result = f"<MessageId>{message_id}</MessageId>" if action in SEND_ACTIONS else ""
    return 200, (
        f'<{action}Response xmlns="{SES_NAMESPACE}">\n'
        f"  <{action}Result>{result}</{action}Result>\n"
        f"  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n"
        f"</{action}Response>\n"
    ).encode("utf-8")


# --------------------------------------------------------------------------
# What was received
# --------------------------------------------------------------------------


@dataclass
class Recorded:
    """One request the endpoint read.

    ``headers`` is case-insensitive (``headers["x-amz-date"]``; missing
    names give ``None``). ``params`` are the form fields (and query string),
    decoded as UTF-8. ``status`` is the HTTP status answered, ``None`` while
    unanswered or when the connection was dropped instead. ``message_id`` is
    set when a send got the default success.
    """

    method: str
    path: str
    headers: http.client.HTTPMessage
    body: bytes
    params: dict[str, str]
    connection_id: int
    status: int | None = None
    message_id: str | None = None
    #: The MessageIds of a SendBulkTemplatedEmail's accepted destinations.
    message_ids: list[str] = field(default_factory=list)
    #: When the request was read (``time.monotonic()``).
    received_at: float = field(default_factory=time.monotonic)

    @property
    def action(self) -> str | None:
        return self.params.get("Action")


def _parse_params(path: str, headers: http.client.HTTPMessage, body: bytes) -> dict[str, str]:
    pairs = parse_qsl(urlsplit(path).query, keep_blank_values=True, encoding="utf-8", errors="replace")
    content_type = (headers.get("Content-Type") or "application/x-www-form-urlencoded").lower()
    if body and content_type.startswith("application/x-www-form-urlencoded"):
        text = body.decode("utf-8", errors="replace")
        pairs += parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace")
    return dict(pairs)


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeSES"
    sys_version = ""
    # Bounds each blocking read or write on the connection.
    timeout = 10.0
    # TCP_NODELAY: the body, written after the headers, leaves at once
    # instead of waiting out the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    server: _Server

    def setup(self) -> None:
        super().setup()
        self.fake = self.server.fake
        self.connection_id = self.fake._open_connection(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.fake._close_connection(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def handle_one_request(self) -> None:
        if not self._wait_for_request():
            self.close_connection = True
            return
        if self.fake._take_if(CloseBeforeReading):
            self.close_connection = True
            self._abort(rst=False)
            return
        try:
            super().handle_one_request()
        except OSError:
            self.close_connection = True

    def _wait_for_request(self) -> bool:
        """Block until the client sends something; False on EOF, idle timeout or stop.

        Watching the socket (not the read buffer) is enough because HTTP
        clients such as requests never pipeline requests.
        """
        deadline = time.monotonic() + self.fake.keep_alive_timeout
        while not self.fake._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                readable, _, _ = select.select([self.connection], [], [], min(remaining, 0.5))
            except (OSError, ValueError):
                return False
            if not readable:
                continue
            try:
                return bool(self.connection.recv(1, socket.MSG_PEEK))
            except OSError:
                return False
        return False

    def _abort(self, *, rst: bool) -> None:
        """Drop the connection without an answer."""
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        self._serve(self._read_body())

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self, body: bytes) -> None:
        record = Recorded(
            method=self.command,
            path=self.path,
            headers=self.headers,
            body=body,
            params=_parse_params(self.path, self.headers, body),
            connection_id=self.connection_id,
        )
        self.fake._record(record)
        self._respond(record, self.fake._next_response())

    def _respond(self, record: Recorded, response: Response) -> None:
        if isinstance(response, Delay):
            if self.fake._stopping.wait(response.seconds):
                self.close_connection = True
                self._abort(rst=False)
                return
            self._respond(record, response.then)
        elif isinstance(response, (ResetConnection, CloseBeforeReading)):
            self.close_connection = True
            self._abort(rst=True)
        elif record.action == BULK_ACTION and isinstance(response, (Ok, BulkStatus)):
            statuses = response.statuses if isinstance(response, BulkStatus) else ()
            ids, body = _bulk_body(destination_count(record.params), statuses)
            record.message_ids = ids
            record.message_id = ids[0] if ids else None
            self._reply(record, Reply(200, body))
        elif isinstance(response, Ok):
            message_id = None
            if record.action in SEND_ACTIONS:
                message_id = response.message_id or new_message_id()
            status, body = _success_body(record.action, message_id)
            record.message_id = message_id
            self._reply(record, Reply(status, body))
        elif isinstance(response, Reply):
            self._reply(record, response)
        else:
            raise TypeError(f"not a FakeSES response: {response!r}")

    def _reply(self, record: Recorded, reply: Reply) -> None:
        record.status = reply.status
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if reply.content_type == "text/xml":
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], fake: FakeSES) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: object, client_address: object) -> None:
        # Kept for tests to inspect instead of printed to stderr.
        with self.fake._lock:
            self.fake._errors.append(sys.exc_info()[1])


class FakeSES:
    """A local SES Query API endpoint: records requests, answers as scripted.

    ``keep_alive_timeout`` is how long an idle connection is kept open.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, keep_alive_timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.keep_alive_timeout = keep_alive_timeout
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._queue: list[Response] = []
        self._errors: list[BaseException | None] = []
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connection_count = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> FakeSES:
        if self._server is not None:
            raise RuntimeError("FakeSES already started")
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"FakeSES:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: drop open connections, end pending delays, join threads
        (waiting ``timeout`` seconds at most). Safe to call more than once."""
        server, thread = self._server, self._thread
        if server is None or self._stopping.is_set():
            return
        deadline = time.monotonic() + timeout
        with self._lock:
            self._stopping.set()
            connections = list(self._connections.items())
        server.shutdown()
        for connection, _ in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        for _, handler_thread in connections:
            handler_thread.join(max(0.0, deadline - time.monotonic()))
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> FakeSES:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSES not started")
        return f"http://{self.host}:{self.port}"

    # -- scripting and inspection -----------------------------------------

    def enqueue(self, *responses: Response) -> None:
        """Add scripted responses, answered in order, one per request."""
        for response in responses:
            if not isinstance(response, Response):
                raise TypeError(f"not a FakeSES response: {response!r}")
        with self._lock:
            self._queue.extend(responses)

    def reset(self) -> None:
        """Forget recorded requests and drop unused scripted responses."""
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self._errors.clear()

    @property
    def requests(self) -> list[Recorded]:
        """Every request read so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def sent(self) -> list[Recorded]:
        """Send requests answered with the default success (a bulk send:
        with at least one destination accepted)."""
        return [
            r for r in self.requests if r.action in (*SEND_ACTIONS, BULK_ACTION) and r.message_id is not None
        ]

    @property
    def pending(self) -> int:
        """How many scripted responses are not used yet."""
        with self._lock:
            return len(self._queue)

    @property
    def errors(self) -> list[BaseException | None]:
        """Unexpected exceptions raised while handling requests (should stay empty)."""
        with self._lock:
            return list(self._errors)

    # -- used by the handler -----------------------------------------------

    def _open_connection(self, connection: socket.socket) -> int:
        with self._lock:
            self._connection_count += 1
            self._connections[connection] = threading.current_thread()
            stopping = self._stopping.is_set()
            number = self._connection_count
        if stopping:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return number

    def _close_connection(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.pop(connection, None)

    def _record(self, record: Recorded) -> None:
        with self._lock:
            self._requests.append(record)

    def _next_response(self) -> Response:
        with self._lock:
            return self._queue.pop(0) if self._queue else Ok()

    def _take_if(self, kind: type[Response]) -> bool:
        with self._lock:
            if self._queue and isinstance(self._queue[0], kind):
                self._queue.pop(0)
                return True
            return False


# --------------------------------------------------------------------------
# Endpoints where nothing answers
# --------------------------------------------------------------------------

# Bound but never listening: connecting is refused, and no one else can take the port.
_RESERVED: list[socket.socket] = []


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def refused_endpoint(host: str = "127.0.0.1") -> str:
    """An ``http://host:PORT`` URL where connecting is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    _RESERVED.append(sock)
    return f"http://{host}:{sock.getsockname()[1]}"
