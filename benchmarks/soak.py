#!/usr/bin/env python3
"""Chaos soak of the queue: exactly once, under faults and killed workers.

A fault-injecting SES endpoint (in this process) answers 5 % of requests
with ``Throttling``, 2 % with HTTP 500, resets 1 % of connections after it
read the request, and answers 1 % after the client's ``TIMEOUT`` (these
last two count as accepted: SES would have sent them). N messages are
queued (``send_messages()`` in calls of 500), W workers drain them, and a
random worker is SIGKILLed (with its children: RQ's work-horse) every ~K
seconds and replaced; the rows ``sending`` right after each kill are
noted. Then every worker is killed, ``ses_queue --recover-stale 0`` runs,
and 2 workers drain what is left.

The last line is ``soak: N messages, sent S, unknown U, failed F,
duplicates D, lost L``; the exit status is 0 only if no row is left
``queued`` or ``sending``, no message was accepted twice, every ``sent``
row carries the one MessageId accepted for it, no ``failed`` row was
accepted, every ``unknown`` row had an after-write fault on its own request
or was ``sending`` right after a kill, and none was lost (never accepted,
and neither ``failed`` nor ``unknown``).

Usage: python3 benchmarks/soak.py [--engine db|rq] [--n 3000] [--workers 4]
       [--kill-every 3] [--seed S] [--pg URL]

``--engine db`` is django-tasks-db's ``db_worker``, on PostgreSQL with
``--pg`` (SQLite otherwise); ``--engine rq`` is ``rqworker`` on a
redis-server this script starts (Debian's ``redis-server``).
"""

from __future__ import annotations

import argparse
import http.server
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from urllib.parse import parse_qs

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SUBJECT = "soak {}"


# -- The fault-injecting endpoint ------------------------------------------------------------


class Faults:
    """What the endpoint decided for each message (by subject)."""

    def __init__(self, seed: int, late: float) -> None:
        self.random = random.Random(seed)
        self.late = late
        self.lock = threading.Lock()
        self.accepted: dict[str, list[str]] = defaultdict(list)  # subject -> MessageIds accepted
        self.after_write: set[str] = set()  # subjects with a reset or late answer
        self.counts: dict[str, int] = defaultdict(int)

    def decide(self, subject: str) -> tuple[str, str]:
        with self.lock:
            roll = self.random.random()
            fault = ("throttling" if roll < 0.05 else "500" if roll < 0.07 else "reset" if roll < 0.08
                     else "late" if roll < 0.09 else "ok")
            self.counts[fault] += 1
            message_id = ""
            if fault in ("ok", "reset", "late"):
                message_id = f"0100{uuid.uuid4().hex}-soak-000000"
                self.accepted[subject].append(message_id)
            if fault in ("reset", "late"):
                self.after_write.add(subject)
            return fault, message_id


def _xml(body: str) -> bytes:
    return f'<?xml version="1.0"?>\n{body}'.encode()


OK = ('<SendEmailResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><SendEmailResult>'
      "<MessageId>{}</MessageId></SendEmailResult><ResponseMetadata><RequestId>{}</RequestId>"
      "</ResponseMetadata></SendEmailResponse>")
ERROR = ('<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>{}</Type>'
         "<Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    faults: Faults

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        fault, message_id = self.faults.decide(params.get("Message.Subject.Data", ""))
        request_id = str(uuid.uuid4())
        if fault == "reset":
            # RST after the request was read: the client cannot know.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if fault == "late":
            time.sleep(self.faults.late)
        if fault == "throttling":
            status, payload = 400, ERROR.format("Sender", "Throttling", "Maximum sending rate exceeded.", request_id)
        elif fault == "500":
            status, payload = 500, ERROR.format("Receiver", "InternalFailure", "Internal failure.", request_id)
        else:
            status, payload = 200, OK.format(message_id, request_id)
        data = _xml(payload)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # A client killed mid-request resets its connection: expected here.


def start_endpoint(faults: Faults) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = type("SoakHandler", (Handler,), {"faults": faults})
    server = Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# -- Processes -----------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent == frontier[-1]]
        frontier.pop()
        found += children
        frontier += children
    return found


def kill(process: subprocess.Popen) -> None:
    """SIGKILL a worker, its process group and its children (RQ's
    work-horse starts a session of its own)."""
    children = descendants(process.pid)
    for target in (lambda: os.killpg(process.pid, signal.SIGKILL),
                   *(lambda pid=pid: os.kill(pid, signal.SIGKILL) for pid in children)):
        try:
            target()
        except ProcessLookupError:
            pass
    process.wait()


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="soak-"))
        self.faults = Faults(args.seed, late=1.5)
        self.server, self.url = start_endpoint(self.faults)
        self.redis = None
        self.env = {
            **os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]),
            "DJANGO_SETTINGS_MODULE": "soak_settings", "SOAK_ENDPOINT": self.url,
            "SOAK_ENGINE": args.engine, "SOAK_DB": args.pg or str(self.tmp / "soak.sqlite3"),
            "PYTHONWARNINGS": "ignore",
        }
        if args.engine == "rq":
            self.start_redis()
        self.workers: list[subprocess.Popen] = []
        self.noted: set[int] = set()
        self.kills = 0

    def start_redis(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("soak: --engine rq needs redis-server (apt-get install redis-server)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.redis = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", str(self.tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("soak: redis-server did not start") from None
                time.sleep(0.05)
        self.env["SOAK_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                kill(process)
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(10)
        self.server.shutdown()

    def django(self, *args: str) -> str:
        return subprocess.run([sys.executable, "-m", "django", *args], env=self.env, check=True,
                              capture_output=True, text=True).stdout

    def start_worker(self) -> None:
        if self.args.engine == "rq":
            command = ["rqworker", "--job-class", "django_tasks_rq.Job", "default"]
        else:
            command = ["db_worker", "--interval", "0.05", "--no-startup-delay", "--no-reload", "-v", "0"]
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "wb")
        self.workers.append(subprocess.Popen(
            [sys.executable, "-m", "django", *command], env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        ))

    def live(self) -> list[subprocess.Popen]:
        return [p for p in self.workers if p.poll() is None]

    def kill_one(self, rows, rng: random.Random) -> None:
        victim = rng.choice(self.live())
        kill(victim)
        self.kills += 1
        self.noted |= set(rows.filter(status="sending").values_list("pk", flat=True))

    def run(self) -> int:
        self.django("migrate", "-v", "0")
        os.environ.update({k: v for k, v in self.env.items() if k.startswith(("SOAK_", "DJANGO_"))})
        sys.path[:0] = [str(REPO), str(HERE)]
        import django

        django.setup()
        from django.db import connection

        from django_ses_query.backend import QueuedEmailBackend
        from django_ses_query.models import EmailLog

        rows = EmailLog.objects.all()
        rows.delete()
        if self.args.engine == "db":
            from django_tasks_db.models import DBTaskResult

            DBTaskResult.objects.all().delete()
        n = self.args.n
        from django.core.mail import EmailMessage

        backend = QueuedEmailBackend()
        for start in range(0, n, 500):
            backend.send_messages([
                EmailMessage(SUBJECT.format(i), "Soak.", "soak@example.com", [f"to{i}@example.org"])
                for i in range(start, min(start + 500, n))
            ])
        connection.close()

        rng = random.Random(self.args.seed)
        for _ in range(self.args.workers):
            self.start_worker()
        started = time.monotonic()
        next_kill = started + rng.uniform(0.5, 1.5) * self.args.kill_every
        last_change, last_final = time.monotonic(), -1
        while True:
            time.sleep(0.2)
            final = rows.exclude(status__in=("queued", "sending")).count()
            if final != last_final:
                last_final, last_change = final, time.monotonic()
            if not rows.filter(status="queued").exists() or time.monotonic() - last_change > 5:
                break
            if time.monotonic() >= next_kill:
                self.kill_one(rows, rng)
                self.start_worker()
                next_kill = time.monotonic() + rng.uniform(0.5, 1.5) * self.args.kill_every
            connection.close()
        # Every worker killed: rows they had in flight are noted too.
        for process in self.live():
            kill(process)
        self.noted |= set(rows.filter(status="sending").values_list("pk", flat=True))
        connection.close()
        print(f"soak: {self.kills} random kills, then all {len(self.workers)} workers; "
              f"{len(self.noted)} rows were 'sending' right after a kill")
        print(self.django("ses_queue", "--recover-stale", "0").strip().splitlines()[0])

        for _ in range(2):
            self.start_worker()
        deadline = time.monotonic() + max(120, n / 10)
        while rows.filter(status__in=("queued", "sending")).exists():
            if time.monotonic() > deadline:
                print("soak: the last 2 workers did not finish in time")
                break
            time.sleep(0.2)
            connection.close()
        time.sleep(0.5)  # Let any answer in flight land before counting.
        return self.check(rows)

    def check(self, rows) -> int:
        problems = []
        left = rows.filter(status__in=("queued", "sending")).count()
        if left:
            problems.append(f"{left} rows left queued or sending")
        accepted = self.faults.accepted
        duplicates = sum(1 for ids in accepted.values() if len(ids) > 1)
        by_subject = {row.subject: row for row in rows.only("pk", "subject", "status", "message_id", "error_code")}
        counts = defaultdict(int)
        lost = 0
        for i in range(self.args.n):
            subject = SUBJECT.format(i)
            row = by_subject.get(subject)
            ids = accepted.get(subject, [])
            status = row.status if row else "missing"
            counts[status] += 1
            if status == "sent" and ids != [row.message_id]:
                problems.append(f"{subject}: sent with {row.message_id!r}, accepted {ids}")
            if status == "failed" and ids:
                problems.append(f"{subject}: accepted by SES but reported failed")
            if status == "unknown" and subject not in self.faults.after_write and row.pk not in self.noted:
                problems.append(f"{subject}: unknown ({row.error_code}) without an after-write fault or a kill")
            if not ids and status not in ("failed", "unknown"):
                lost += 1
        if duplicates:
            problems.append(f"{duplicates} messages accepted more than once")
        if lost:
            problems.append(f"{lost} messages lost")
        for problem in problems[:20]:
            print(f"soak: FAIL {problem}")
        print(f"soak: endpoint faults {dict(sorted(self.faults.counts.items()))}; seed {self.args.seed}; "
              f"engine {self.args.engine}; workers {self.args.workers}; kill every ~{self.args.kill_every:g} s")
        print(f"soak: {self.args.n} messages, sent {counts['sent']}, unknown {counts['unknown']}, "
              f"failed {counts['failed']}, duplicates {duplicates}, lost {lost}")
        return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("db", "rq"), default="db")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kill-every", type=float, default=3.0, metavar="SECONDS")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL database URL (its queue tables are emptied)")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 10**6)
    print(f"soak: python3 benchmarks/soak.py --engine {args.engine} --n {args.n} --workers {args.workers} "
          f"--kill-every {args.kill_every:g} --seed {args.seed}" + (" --pg URL" if args.pg else ""))
    soak = Soak(args)
    try:
        return soak.run()
    finally:
        soak.stop()


if __name__ == "__main__":
    sys.exit(main())
