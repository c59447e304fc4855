"""The parent process: starts the endpoint, runs each measurement's workers
in fresh processes (``bench.py _worker SPEC``, ...), checks every run
against the endpoint's counts and collects the results."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from . import measure
from .config import BENCHMARKS_DIR, ENTRY_SCRIPT, FULL, LOCMEM, OURS, QUICK, REPO, SEND_ACTIONS
from .endpoint import Endpoint
from .report import Results, print_header, reproduce_command


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.params = QUICK if args.quick else FULL
        self.db_dir = tempfile.mkdtemp(prefix="django-ses-query-bench-", dir=args.db_dir)
        self.db = os.path.join(self.db_dir, "bench.sqlite3")
        self.postgres = args.postgres
        self.env = dict(os.environ)
        self.source = os.path.abspath(args.source or REPO)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [self.source] + ([self.env["PYTHONPATH"]] if self.env.get("PYTHONPATH") else [])
        )
        # Bytecode is cached (as in a deployed app), outside the work tree.
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env["PYTHONPYCACHEPREFIX"] = os.path.join(self.db_dir, "pycache")
        # botocore must never look for credentials or a region off this machine.
        self.env.update(
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        )
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                     "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SES"):
            self.env.pop(name, None)
        self.endpoint: Endpoint | None = None
        self.results = Results()

    # -- child processes ------------------------------------------------------

    def spec(self, **values) -> dict:
        return {"db": self.db, "url": self.endpoint.url, "ses_throttle": self.args.ses_auto_throttle, **values}

    def command(self, mode: str, spec: dict) -> list[str]:
        """The command line of a child process (``bench.py MODE SPEC``)."""
        return [sys.executable, ENTRY_SCRIPT, mode, json.dumps(spec)]

    def run_worker(self, spec: dict, expect_action: str | None = None) -> dict:
        self.endpoint.reset()
        completed = subprocess.run(
            self.command("_worker", spec), env=self.env, capture_output=True, text=True, cwd=BENCHMARKS_DIR,
        )
        lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
        if completed.returncode != 0 or not lines:
            raise RuntimeError(
                f"worker {spec['kind']}/{spec['backend']} failed ({completed.returncode}):\n"
                f"{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
            )
        result = json.loads(lines[-1][len("RESULT "):])
        self.check_endpoint(spec, result["sent"], expect_action)
        return result

    def check_endpoint(self, spec: dict, sent: int, expect_action: str | None) -> None:
        """Every message the backend said it sent reached the endpoint, signed."""
        stats = self.endpoint.stats()
        actions = stats["actions"]
        sends = sum(actions.get(action, 0) for action in SEND_ACTIONS)
        label = f"{spec['kind']}/{spec['backend']}" + (" LOG=False" if spec.get("log") is False else "")
        problems = []
        if sends != sent:
            problems.append(f"the backend reported {sent} sent, the endpoint got {sends} sends")
        if stats["signed"] != stats["requests"]:
            problems.append(f"{stats['requests'] - stats['signed']} unsigned requests")
        if expect_action and actions.get(expect_action, 0) != sent:
            problems.append(f"expected {sent} {expect_action}, got {actions}")
        if problems:
            raise AssertionError(f"{label}: " + "; ".join(problems))
        self.results.check(run=label, sent=sent, endpoint_requests=stats["requests"],
                           actions=actions, connections=stats["connections"])

    def time_cold_start(self, backend: str) -> tuple[float, float]:
        """(wall seconds from Popen to the child's "sent" line, the child's CPU seconds by then)."""
        spec = self.spec(backend=backend)
        self.endpoint.reset()
        started = time.perf_counter()
        process = subprocess.Popen(
            self.command("_coldstart", spec),
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=BENCHMARKS_DIR,
        )
        line = process.stdout.readline()
        elapsed = time.perf_counter() - started
        _, stderr = process.communicate()
        words = line.split()
        if process.returncode != 0 or words[:2] != ["SENT", "1"]:
            raise RuntimeError(f"cold start {backend} failed: {line!r}\n{stderr[-3000:]}")
        if backend != LOCMEM:
            self.check_endpoint({"kind": "cold_start", "backend": backend}, 1, None)
        return elapsed, float(words[2])

    def time_imports(self) -> tuple[float, float]:
        """(seconds for ``import requests``, seconds for the rest of our
        backend's import), in a fresh process set up like the locmem one."""
        completed = subprocess.run(
            self.command("_importcost", self.spec(backend=LOCMEM)),
            env=self.env, capture_output=True, text=True, cwd=BENCHMARKS_DIR,
        )
        words = (completed.stdout.strip().splitlines() or [""])[-1].split()
        if completed.returncode != 0 or words[:1] != ["IMPORT"]:
            raise RuntimeError(f"import timing failed: {completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
        return float(words[1]), float(words[2])

    def migrate(self) -> None:
        for db in [self.db] + ([self.postgres] if self.postgres else []):
            subprocess.run(self.command("_migrate", self.spec(backend=OURS, db=db)),
                           env=self.env, check=True, cwd=BENCHMARKS_DIR)

    def conditions(self, label: str) -> dict:
        """What else the machine is doing: load average, and how long one
        committed SQLite insert takes next to the send-log database (the
        fsync that each of our log rows pays)."""
        import sqlite3

        path = os.path.join(self.db_dir, "probe.sqlite3")
        connection = sqlite3.connect(path, isolation_level=None)
        try:
            connection.execute("CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, value TEXT)")
            times = []
            for _ in range(30):
                started = time.perf_counter()
                connection.execute("INSERT INTO probe (value) VALUES ('x')")
                times.append(time.perf_counter() - started)
        finally:
            connection.close()
        load = os.getloadavg()[0]
        commit = statistics.median(times)
        print(f"    conditions: load average {load:.2f} on {os.cpu_count()} CPUs; "
              f"one committed SQLite insert: {commit * 1e3:.2f} ms")
        state = {"load_1min": load, "sqlite_commit_s": commit}
        self.results.conditions(label, state)
        return state

    # -- the run ---------------------------------------------------------------

    def environment(self) -> dict:
        import importlib.metadata as metadata

        def version(name: str) -> str:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                return "not installed"

        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        if self.source == REPO and subprocess.run(
            ["git", "-C", REPO, "status", "--porcelain", "--", "django_ses_query"],
            capture_output=True, text=True,
        ).stdout.strip():
            commit += " + uncommitted changes in django_ses_query/"
        return {
            "python": sys.version.split()[0],
            "django": version("Django"),
            "django-ses": version("django-ses"),
            "django-anymail": version("django-anymail"),
            "boto3": version("boto3"),
            "botocore": version("botocore"),
            "requests": version("requests"),
            "cpus": os.cpu_count(),
            "commit": commit,
            "source": self.source,
            "database": self.db,
        }

    def run(self) -> int:
        env = self.environment()
        self.results["environment"] = env
        self.results["params"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()}
        self.results["command"] = reproduce_command()
        print_header(env, self.postgres, self.args.ses_auto_throttle)
        self.endpoint = Endpoint()
        try:
            self.migrate()
            print(f"Canned SES endpoint: {self.endpoint.url} (separate process)")
            for name in self.args.only or list(measure.MEASUREMENTS):
                measure.MEASUREMENTS[name](self)
            if self.args.profile:
                measure.profile(self)
        finally:
            self.endpoint.stop()
            shutil.rmtree(self.db_dir, ignore_errors=True)

        self.results.print_summary()
        if self.args.json:
            self.results.write_json(self.args.json)
        failed = self.results.failed()
        if self.args.check and failed:
            print(f"--check: {len(failed)} target(s) missed: {', '.join(failed)}")
            return 1
        return 0
