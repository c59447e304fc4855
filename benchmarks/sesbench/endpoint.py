"""The canned SES endpoint and the parent's handle on it.

``serve()`` runs in a process of its own (``bench.py _serve``: standard
library only, so its work does not share the client's GIL); ``Endpoint``
starts that process and talks to its control URLs (``/__bench/...``):
reset the counts, set a delay added to every request, read the counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from .config import ACCESS_KEY_ID, ENTRY_SCRIPT


def serve() -> None:
    import re
    import socket
    import socketserver
    import threading
    from urllib.parse import parse_qs, urlsplit

    action_re = re.compile(rb"(?:^|&)Action=([A-Za-z0-9]+)")
    subject_re = re.compile(rb"(?:^|&)Message\.Subject\.Data=([^&]*)")
    subjects: set = set()  # of the SendEmail requests answered, to count duplicates
    namespace = "http://ses.amazonaws.com/doc/2010-12-01/"
    lock = threading.Lock()
    state = {"delay": 0.0, "counter": 0}
    stats: dict = {}

    def reset() -> None:
        stats.clear()
        subjects.clear()
        # first_send/last_send: when the first and last SendEmail were answered (time.time()).
        stats.update(requests=0, signed=0, connections=0, actions={}, bytes_in=0, destinations=0,
                     first_send=None, last_send=None, duplicate_subjects=0)

    reset()

    def success(action: str, number: int, destinations: int = 0) -> bytes:
        request_id = f"0000beef-0000-4000-8000-{number:012x}"
        if action in ("SendEmail", "SendRawEmail", "SendTemplatedEmail"):
            result = f"<MessageId>0100018c{number:08x}-bench-{number:012x}-000000</MessageId>"
        elif action == "SendBulkTemplatedEmail":
            # One status per destination, as SES answers.
            result = "<Status>" + "".join(
                f"<member><Status>Success</Status><MessageId>0100018c{number:08x}-bench-{i:06x}-000000"
                "</MessageId></member>" for i in range(destinations)
            ) + "</Status>"
        elif action == "GetSendQuota":
            # Large enough that django-ses's optional auto-throttle never sleeps.
            result = (
                "<SentLast24Hours>0.0</SentLast24Hours><Max24HourSend>1000000000.0</Max24HourSend>"
                "<MaxSendRate>1000000.0</MaxSendRate>"
            )
        else:
            result = ""
        return (
            f'<{action}Response xmlns="{namespace}"><{action}Result>{result}</{action}Result>'
            f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
            f"</{action}Response>\n"
        ).encode("ascii")

    class Handler(socketserver.StreamRequestHandler):
        """A minimal HTTP/1.1 keep-alive handler: Content-Length bodies only
        (what both clients send). Kept lean on purpose: its cost per request
        is paid by both backends and would dilute the ratio."""

        timeout = 30  # idle keep-alive connections are closed after this

        def setup(self) -> None:
            super().setup()
            # Answers go out at once (no Nagle wait for the client's delayed ACK).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with lock:
                stats["connections"] += 1

        def handle(self) -> None:
            rfile = self.rfile
            try:
                while True:
                    request_line = rfile.readline(65537)
                    if not request_line:
                        return
                    if request_line in (b"\r\n", b"\n"):
                        continue
                    method, path, _ = request_line.decode("latin-1").split(" ", 2)
                    length, authorization, close = 0, "", False
                    while True:
                        line = rfile.readline(65537)
                        if line in (b"\r\n", b"\n", b""):
                            break
                        name, _, value = line.decode("latin-1").partition(":")
                        name = name.strip().lower()
                        if name == "content-length":
                            length = int(value)
                        elif name == "authorization":
                            authorization = value.strip()
                        elif name == "connection" and value.strip().lower() == "close":
                            close = True
                        elif name == "transfer-encoding":
                            self.reply(411, b"Content-Length required\n", "text/plain", close=True)
                            return
                    body = rfile.read(length) if length else b""
                    self.dispatch(method, path, body, authorization)
                    if close:
                        return
            except (OSError, ValueError):
                return

        def reply(self, status: int, body: bytes, content_type: str = "text/xml", close: bool = False) -> None:
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 411: "Length Required"}[status]
            connection = "Connection: close\r\n" if close else ""
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n{connection}\r\n"
            )
            self.wfile.write(head.encode("latin-1") + body)  # one write: head and body

        def dispatch(self, method: str, path: str, body: bytes, authorization: str) -> None:
            if path.startswith("/__bench/"):
                return self.control(method, path)
            if method != "POST":
                return self.reply(404, b"not found\n", "text/plain")
            v2 = path.startswith("/v2/email/outbound-")  # SES v2 (REST, JSON): anymail
            bulk_v2 = path.startswith("/v2/email/outbound-bulk-emails")
            match = None if v2 else action_re.search(body)
            action = ("SendBulkEmailV2" if bulk_v2 else "SendEmailV2") if v2 else (
                match.group(1).decode() if match else "")
            # Destinations of a bulk send (each has its own data).
            destinations = body.count(b'"Destination"') if bulk_v2 else (
                body.count(b"ReplacementTemplateData=") if action == "SendBulkTemplatedEmail" else 0)
            signed = authorization.startswith("AWS4-HMAC-SHA256 ") and (
                f"Credential={ACCESS_KEY_ID}/" in authorization
            )
            with lock:
                state["counter"] += 1
                number = state["counter"]
                delay = state["delay"]
                stats["requests"] += 1
                stats["signed"] += signed
                stats["bytes_in"] += len(body)
                stats["destinations"] += destinations
                stats["actions"][action or "-"] = stats["actions"].get(action or "-", 0) + 1
            if delay:
                time.sleep(delay)
            if not action:
                return self.reply(400, b"<ErrorResponse><Error><Code>MissingAction</Code></Error></ErrorResponse>")
            if bulk_v2:
                results = [{"Status": "SUCCESS", "MessageId": f"0100018c{number:08x}-bench-{i:06x}-000000"}
                           for i in range(destinations)]
                return self.reply(200, json.dumps({"BulkEmailEntryResults": results}).encode(), "application/json")
            if action == "SendEmail":
                subject = subject_re.search(body)
                with lock:
                    now = time.time()
                    stats["first_send"] = stats["first_send"] or now
                    stats["last_send"] = now
                    if subject is not None:
                        if subject.group(1) in subjects:
                            stats["duplicate_subjects"] += 1
                        subjects.add(subject.group(1))
            if v2:
                message_id = f"0100018c{number:08x}-bench-{number:012x}-000000"
                return self.reply(200, json.dumps({"MessageId": message_id}).encode(), "application/json")
            self.reply(200, success(action, number, destinations))

        def control(self, method: str, path: str) -> None:
            parts = urlsplit(path)
            query = parse_qs(parts.query)
            with lock:
                if method == "GET" and parts.path == "/__bench/stats":
                    body = json.dumps(stats).encode()
                    return self.reply(200, body, "application/json")
                if method == "POST" and parts.path == "/__bench/reset":
                    reset()
                elif method == "POST" and parts.path == "/__bench/delay":
                    state["delay"] = float(query.get("ms", ["0"])[0]) / 1000.0
                else:
                    return self.reply(404, b"unknown control\n", "text/plain")
            self.reply(200, b"ok\n", "text/plain")

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    # Stops when the parent closes our stdin (or dies).
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
    server.serve_forever(poll_interval=0.1)


class Endpoint:
    """The parent's handle on the endpoint process."""

    def __init__(self, delay_ms: float = 0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, ENTRY_SCRIPT, "_serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the endpoint did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        if delay_ms:
            self.set_delay(delay_ms)

    def _call(self, method: str, path: str) -> bytes:
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=b"" if method == "POST" else None)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{method} {path}: HTTP {response.status}")
            return body
        finally:
            connection.close()

    def reset(self) -> None:
        self._call("POST", "/__bench/reset")

    def set_delay(self, ms: float) -> None:
        self._call("POST", f"/__bench/delay?ms={ms}")

    def stats(self) -> dict:
        return json.loads(self._call("GET", "/__bench/stats"))

    def sends(self, action: str) -> int:
        """How many ``action`` requests it got since the last reset."""
        return self.stats()["actions"].get(action, 0)

    def floor_per_request(self, n: int = 2000) -> float:
        """Seconds per bare keep-alive POST (http.client, no signing): the
        part of every measurement that is loopback + this endpoint."""
        import http.client

        body = b"Action=SendEmail&Version=2010-12-01&Source=a%40example.com"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for i in range(n + 100):
                if i == 100:
                    started = time.perf_counter()
                connection.request("POST", "/", body=body, headers={
                    "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
                connection.getresponse().read()
            return (time.perf_counter() - started) / n
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
