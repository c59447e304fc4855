#!/usr/bin/env python3
"""Queued sending (``QueuedEmailBackend`` + django-tasks-db workers).

1. ``send_mail()`` time, queued against direct, with ``--rtt-ms`` (20 ms)
   added by the endpoint to every request: the queued call writes a row and
   a task and returns; the direct one waits for SES. Median of N calls,
   after a warm-up, on a SQLite file database (and PostgreSQL with
   ``--pg``). Target: queued <= 2 ms on SQLite.
2. Drain throughput, with ``MAX_CONCURRENCY=32`` and ``--rtt-ms``: 4,000
   messages queued by ``send_messages()`` in calls of 500 before any worker
   starts, then 1, 2 and 4 ``db_worker --batch`` processes (on SQLite, and
   PostgreSQL with ``--pg``), 2 ``rqworker`` processes (with ``--rq``: a
   redis-server of its own), and ``TASK_CHUNK_SIZE=1`` for comparison; also
   with Django's default ``CONN_MAX_AGE`` (0). msg/s is the messages over
   the time from the first to the last request the endpoint accepted; the
   named peer in the same run is direct sending (one ``send_messages()``,
   one process, ``MAX_CONCURRENCY=32``). Targets: >= 600 msg/s from 2
   workers on PostgreSQL, >= 400 msg/s from 1 on SQLite.

The endpoint is bench.py's canned SES Query endpoint (``sesbench.endpoint``,
its own process, standard library only); every run checks it received
exactly the messages queued, all signed, and that every row ended ``sent``.

Usage: python3 benchmarks/bench_queued.py [--quick] [--pg URL [--pg-only]] [--rq] [--rtt-ms MS] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)


# -- Measurements (each in a process of its own, with its own settings) --------


def setup_django() -> None:
    import warnings

    warnings.simplefilter("ignore")  # Django 6.1's EMAIL_BACKEND deprecation.
    sys.path.insert(0, REPO)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench_queued_settings"
    import django

    django.setup()


def message(i: int):
    from django.core.mail import EmailMessage

    return EmailMessage(
        subject=f"Your order #{i} has shipped", body="Hello,\n\nYour order has shipped.\n" * 8,
        from_email="Example Shop <shop@example.com>", to=[f"customer{i}@example.org"],
    )


def time_send_mail(n: int) -> None:
    setup_django()
    from django.core.mail import send_mail

    def once(i: int) -> float:
        started = time.perf_counter()
        send_mail(f"Your order #{i} has shipped", "Hello,\n\nYour order has shipped.\n" * 8,
                  "Example Shop <shop@example.com>", [f"customer{i}@example.org"])
        return time.perf_counter() - started

    for i in range(10):
        once(i)  # Warm-up: imports, connections, the tasks framework.
    times = [once(i) for i in range(10, 10 + n)]
    print(json.dumps({"median_ms": statistics.median(times) * 1000, "mean_ms": statistics.mean(times) * 1000}))


def enqueue(n: int) -> None:
    """Queue ``n`` messages with ``send_messages()``, in calls of 500."""
    setup_django()
    from django_ses_query.backend import QueuedEmailBackend

    backend = QueuedEmailBackend()
    for start in range(0, n, 500):
        count = min(500, n - start)
        assert backend.send_messages([message(i) for i in range(start, start + count)]) == count


def send_direct(n: int) -> None:
    """The peer: ``n`` messages in one ``send_messages()`` of the direct backend."""
    setup_django()
    from django_ses_query.backend import EmailBackend

    assert EmailBackend().send_messages([message(i) for i in range(n)]) == n


def pending() -> None:
    setup_django()
    from django_ses_query.models import EmailLog

    print(EmailLog.objects.filter(status__in=("queued", "sending")).count())


def reset() -> None:
    setup_django()
    from django_tasks_db.models import DBTaskResult

    from django_ses_query.models import EmailLog

    EmailLog.objects.all().delete()
    DBTaskResult.objects.all().delete()
    if os.environ.get("BENCH_REDIS_URL"):
        import django_rq

        django_rq.get_queue("default").empty()


def statuses() -> None:
    setup_django()
    from django.db.models import Count

    from django_ses_query.models import EmailLog

    print(json.dumps(dict(EmailLog.objects.order_by().values_list("status").annotate(Count("pk")))))


# -- The driver ---------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from sesbench.endpoint import Endpoint

        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="bench-queued-")
        self.endpoint = Endpoint(delay_ms=args.rtt_ms)
        self.url = self.endpoint.url

    def stop(self) -> None:
        self.endpoint.stop()

    def env(self, db: str, backend: str = "django_ses_query.backend.QueuedEmailBackend", **extra: str) -> dict:
        return {
            **os.environ, "BENCH_DB": db, "BENCH_ENDPOINT": self.url, "BENCH_EMAIL_BACKEND": backend,
            "PYTHONPATH": os.pathsep.join([REPO, HERE]), "DJANGO_SETTINGS_MODULE": "bench_queued_settings",
            "PYTHONWARNINGS": "ignore", **extra,
        }

    def run(self, db: str, *args: str, backend: str | None = None, extra: dict | None = None) -> str:
        env = self.env(db, *([backend] if backend else []), **(extra or {}))
        return subprocess.run(
            [sys.executable, __file__, *args], env=env, check=True, capture_output=True, text=True
        ).stdout

    def migrate(self, db: str) -> None:
        subprocess.run([sys.executable, "-m", "django", "migrate", "-v", "0"], env=self.env(db), check=True)

    def sent(self) -> int:
        """SendEmail requests received since the last clear(); all must be signed."""
        stats = self.endpoint.stats()
        if stats["signed"] != stats["requests"]:
            raise SystemExit(f"{stats['requests'] - stats['signed']} unsigned requests reached the endpoint")
        return self.endpoint.sends("SendEmail")

    def clear(self, db: str) -> None:
        self.run(db, "reset")
        self.endpoint.reset()

    def send_mail_times(self, db: str, label: str) -> dict:
        n = self.args.calls
        figures = {}
        for name, backend in (
            ("queued", "django_ses_query.backend.QueuedEmailBackend"),
            ("direct", "django_ses_query.backend.EmailBackend"),
        ):
            self.clear(db)
            figures[name] = json.loads(self.run(db, "time-send-mail", str(n), backend=backend))
        print(
            f"send_mail() on {label}, {self.args.rtt_ms:g} ms RTT, median of {n}: "
            f"queued {figures['queued']['median_ms']:.2f} ms, direct {figures['direct']['median_ms']:.2f} ms"
        )
        return figures

    def accepted_rate(self, n: int, what: str) -> float:
        """msg/s from the first to the last request accepted; every message once."""
        stats = self.endpoint.stats()
        if self.sent() != n or stats["duplicate_subjects"]:
            raise SystemExit(f"{what}: endpoint {self.sent()} of {n}, {stats['duplicate_subjects']} duplicates")
        return n / max(stats["last_send"] - stats["first_send"], 1e-9)

    def direct(self, db: str, label: str) -> float:
        n = self.args.messages
        self.clear(db)
        self.run(db, "send-direct", str(n), backend="django_ses_query.backend.EmailBackend",
                 extra={"BENCH_MAX_CONCURRENCY": "32"})
        rate = self.accepted_rate(n, "direct")
        print(f"direct send_messages(), {label}, MAX_CONCURRENCY=32, {n} messages: {rate:.0f} msg/s (the peer)")
        return rate

    def drain(self, db: str, label: str, workers: int, *, engine: str = "db", chunk: int | None = None,
              conn_max_age: str = "none", n: int | None = None) -> float:
        n = n or self.args.messages
        extra = {"BENCH_MAX_CONCURRENCY": "32", "BENCH_CONN_MAX_AGE": conn_max_age}
        if chunk is not None:
            extra["BENCH_TASK_CHUNK_SIZE"] = str(chunk)
        if engine == "rq":
            extra["BENCH_REDIS_URL"] = self.redis_url
        self.clear(db)
        self.run(db, "reset", extra=extra)
        self.run(db, "enqueue", str(n), extra=extra)
        if engine == "rq":
            command = [sys.executable, "-m", "django", "rqworker", "--job-class", "django_tasks_rq.Job",
                       "default"]
        else:
            command = [sys.executable, "-m", "django", "db_worker", "--batch", "--interval", "0",
                       "--no-startup-delay", "--no-reload", "-v", "0"]
        processes = [subprocess.Popen(command, env=self.env(db, **extra), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL) for _ in range(workers)]
        if engine == "rq":  # Not --burst: a burst worker can take a minute to leave.
            while int(self.run(db, "pending", extra=extra)) or self.sent() < n:
                time.sleep(0.5)
            for process in processes:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        else:
            for process in processes:
                if process.wait() != 0:
                    raise SystemExit("a worker failed")
        statuses = json.loads(self.run(db, "statuses", extra=extra))
        if statuses != {"sent": n}:
            raise SystemExit(f"drain check failed: rows {statuses}")
        rate = self.accepted_rate(n, "drain")
        name = {"db": "db_worker --batch", "rq": "rqworker"}[engine]
        details = "".join([
            f", TASK_CHUNK_SIZE={chunk}" if chunk is not None else "",
            ", CONN_MAX_AGE=0" if conn_max_age == "0" else "",
        ])
        print(f"drain on {label}, {self.args.rtt_ms:g} ms RTT, {n} messages, {workers} {name}{details}: "
              f"{rate:.0f} msg/s")
        return rate

    def start_redis(self) -> None:
        import shutil
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.redis = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1", "--port", str(port),
             "--save", "", "--appendonly", "no", "--dir", self.tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        self.redis_url = f"redis://127.0.0.1:{port}/0"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        COMMANDS[sys.argv[1]](*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N (indicative figures only)")
    parser.add_argument("--pg", metavar="URL", help="a PostgreSQL database URL (its tables are emptied)")
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--rq", action="store_true", help="also 2 rqworker processes (starts a redis-server)")
    parser.add_argument("--pg-only", action="store_true", help="with --pg: measure PostgreSQL only")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH")
    args = parser.parse_args()
    args.calls = 50 if args.quick else 300
    args.messages = 500 if args.quick else 4000
    bench = Bench(args)
    results: dict = {"rtt_ms": args.rtt_ms, "messages": args.messages, "calls": args.calls,
                     "load_average": os.getloadavg()}
    print("load average at start: " + " ".join(f"{value:.2f}" for value in os.getloadavg())
          + f" ({os.cpu_count()} CPUs): figures on a busy machine are slower")
    try:
        sqlite = os.path.join(bench.tmp, "bench.sqlite3")
        databases = [("SQLite", sqlite)] + ([("PostgreSQL", args.pg)] if args.pg else [])
        if args.pg and args.pg_only:
            databases = databases[1:]
        for label, db in databases:
            bench.migrate(db)
            results[f"send_mail {label}"] = bench.send_mail_times(db, label)
        if "send_mail SQLite" in results:
            queued_ms = results["send_mail SQLite"]["queued"]["median_ms"]
            print(f"target queued send_mail() <= 2 ms on SQLite: {'PASS' if queued_ms <= 2 else 'FAIL'} "
                  f"({queued_ms:.2f} ms)")
        workers = [int(w) for w in args.workers.split(",")]
        if args.rq:
            bench.start_redis()
        targets = {"SQLite": (1, 400), "PostgreSQL": (2, 600)}
        for label, db in databases:
            peer = results[f"direct {label}"] = bench.direct(db, label)
            for count in workers:
                rate = results[f"drain {label} {count}"] = bench.drain(db, label, count)
                print(f"  = {rate / peer:.2f} x direct")
            needed, target = targets[label]
            rate = results[f"drain {label} {needed} CONN_MAX_AGE=0"] = bench.drain(
                db, label, needed, conn_max_age="0")
            met = results.get(f"drain {label} {needed}", 0) >= target and rate >= target
            print(f"target >= {target} msg/s from {needed} worker(s) on {label} (also with CONN_MAX_AGE=0): "
                  f"{'PASS' if met else 'FAIL'}")
            results[f"drain {label} 2 TASK_CHUNK_SIZE=1"] = bench.drain(
                db, label, 2, chunk=1, n=max(100, args.messages // 8))  # a task per message: slow
            if args.rq:
                results[f"drain {label} 2 rqworker"] = bench.drain(db, label, 2, engine="rq")
    finally:
        bench.stop()
        if getattr(bench, "redis", None) is not None:
            bench.redis.terminate()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


COMMANDS = {
    "time-send-mail": lambda n: time_send_mail(int(n)),
    "enqueue": lambda n: enqueue(int(n)),
    "send-direct": lambda n: send_direct(int(n)),
    "pending": pending,
    "reset": reset,
    "statuses": statuses,
}

if __name__ == "__main__":
    main()
