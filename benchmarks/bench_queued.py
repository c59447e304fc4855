#!/usr/bin/env python3
"""Queued sending (``QueuedEmailBackend`` + django-tasks-db workers).

1. ``send_mail()`` time, queued against direct, with ``--rtt-ms`` (20 ms)
   added by the endpoint to every request: the queued call writes a row and
   a task and returns; the direct one waits for SES. Median of N calls,
   after a warm-up, on a SQLite file database (and PostgreSQL with
   ``--pg``). Target: queued <= 2 ms on SQLite.
2. Drain throughput: N queued messages, then 1, 2 and 4 ``db_worker
   --batch`` processes started together; messages per second from their
   start to the last one's exit, on PostgreSQL (``--pg URL``; SQLite
   otherwise). Target: it grows with workers, up to the machine's cores.

The endpoint is bench.py's canned SES Query endpoint (``sesbench.endpoint``,
its own process, standard library only); every run checks it received
exactly the messages queued, all signed, and that every row ended ``sent``.

Usage: python3 benchmarks/bench_queued.py [--quick] [--pg URL] [--rtt-ms MS] [--workers 1,2,4]
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
    setup_django()
    from django_ses_query.backend import QueuedEmailBackend

    assert QueuedEmailBackend().send_messages([message(i) for i in range(n)]) == n


def reset() -> None:
    setup_django()
    from django_tasks_db.models import DBTaskResult

    from django_ses_query.models import EmailLog

    EmailLog.objects.all().delete()
    DBTaskResult.objects.all().delete()


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

    def env(self, db: str, backend: str = "django_ses_query.backend.QueuedEmailBackend") -> dict:
        return {
            **os.environ, "BENCH_DB": db, "BENCH_ENDPOINT": self.url, "BENCH_EMAIL_BACKEND": backend,
            "PYTHONPATH": os.pathsep.join([REPO, HERE]), "DJANGO_SETTINGS_MODULE": "bench_queued_settings",
            "PYTHONWARNINGS": "ignore",
        }

    def run(self, db: str, *args: str, backend: str | None = None) -> str:
        env = self.env(db, *([backend] if backend else []))
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

    def drain(self, db: str, label: str, workers: int) -> float:
        n = self.args.messages
        self.clear(db)
        self.run(db, "enqueue", str(n))
        command = [sys.executable, "-m", "django", "db_worker", "--batch", "--interval", "0",
                   "--no-startup-delay", "--no-reload", "-v", "0"]
        started = time.perf_counter()
        processes = [subprocess.Popen(command, env=self.env(db)) for _ in range(workers)]
        for process in processes:
            if process.wait() != 0:
                raise SystemExit("a worker failed")
        elapsed = time.perf_counter() - started
        statuses = json.loads(self.run(db, "statuses"))
        if self.sent() != n or statuses != {"sent": n}:
            raise SystemExit(f"drain check failed: endpoint {self.sent()}, rows {statuses}")
        rate = n / elapsed
        print(f"drain on {label}, {self.args.rtt_ms:g} ms RTT, {n} messages, {workers} worker(s): "
              f"{elapsed:.1f} s, {rate:.0f} messages/s")
        return rate


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        COMMANDS[sys.argv[1]](*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N (indicative figures only)")
    parser.add_argument("--pg", metavar="URL", help="a PostgreSQL database URL (its tables are emptied)")
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH")
    args = parser.parse_args()
    args.calls = 50 if args.quick else 300
    args.messages = 200 if args.quick else 1000
    bench = Bench(args)
    results: dict = {"rtt_ms": args.rtt_ms, "messages": args.messages, "calls": args.calls,
                     "load_average": os.getloadavg()}
    print("load average at start: " + " ".join(f"{value:.2f}" for value in os.getloadavg())
          + f" ({os.cpu_count()} CPUs): figures on a busy machine are slower")
    try:
        sqlite = os.path.join(bench.tmp, "bench.sqlite3")
        databases = [("SQLite", sqlite)] + ([("PostgreSQL", args.pg)] if args.pg else [])
        for label, db in databases:
            bench.migrate(db)
            results[f"send_mail {label}"] = bench.send_mail_times(db, label)
        queued_ms = results["send_mail SQLite"]["queued"]["median_ms"]
        print(f"target queued send_mail() <= 2 ms on SQLite: {'PASS' if queued_ms <= 2 else 'FAIL'} ({queued_ms:.2f} ms)")
        label, db = databases[-1]
        for count in (int(w) for w in args.workers.split(",")):
            results[f"drain {label} {count}"] = bench.drain(db, label, count)
    finally:
        bench.stop()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


COMMANDS = {
    "time-send-mail": lambda n: time_send_mail(int(n)),
    "enqueue": lambda n: enqueue(int(n)),
    "reset": reset,
    "statuses": statuses,
}

if __name__ == "__main__":
    main()
