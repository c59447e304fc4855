"""What a run records and prints: the figures judged against a target, the
ones only printed, the endpoint checks, the summary and the JSON file."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys


class Results:
    """Every figure of a run, as written by ``--json``."""

    def __init__(self) -> None:
        self.data: dict = {"targets": {}, "informational": {}, "checks": []}

    def record_target(self, name: str, **figures) -> None:
        """A figure judged against a target (``passed``), printed by the caller."""
        self.data["targets"][name] = figures

    def ratio_target(self, name: str, ours, theirs, ratio, target: str, passed: bool, unit: str, **extra) -> None:
        """A target on the ratio ours / theirs: recorded and printed."""
        self.record_target(name, ours=ours, theirs=theirs, ratio=ratio, target=target, passed=passed,
                           unit=unit, **extra)
        print(f"  {pass_fail(passed)}: ratio ours/theirs = {ratio:.3f} (target: {target})")

    def informational(self, name: str, **figures) -> None:
        """A figure printed by the caller and recorded, not judged."""
        self.data["informational"][name] = figures

    def check(self, **details) -> None:
        """One run's endpoint check (passed: see Runner.check_endpoint())."""
        self.data["checks"].append(details)

    def conditions(self, label: str, state: dict) -> None:
        self.data.setdefault("conditions", {})[label] = state

    def __setitem__(self, key: str, value) -> None:
        self.data[key] = value

    def failed(self) -> list[str]:
        return [name for name, t in self.data["targets"].items() if not t["passed"]]

    def print_summary(self) -> None:
        print("\nSummary:")
        for name, t in self.data["targets"].items():
            print(f"  {pass_fail(t['passed'])}  {name:<22} ratio {t['ratio']:.3f}  (target {t['target']})")
        for name, t in self.data["informational"].items():
            if "medians" in t:
                print(f"  info  {name:<22} " + "; ".join(
                    f"{key}: {value * 1e6:.0f} us" if t["unit"].startswith("s ") else f"{key}: {value:.0f}"
                    for key, value in t["medians"].items()) + f"  ({t['unit']})")
            elif "ratio" in t:
                print(f"  info  {name:<22} ratio {t['ratio']:.3f}  (not judged)")
            else:
                print(f"  info  {name:<22} ours {t['ours']:.0f}, django-ses {t['theirs']:.0f} {t['unit']}")
        print(f"  endpoint checks: {len(self.data['checks'])} runs, every reported send "
              "reached the endpoint as a signed request")

    def write_json(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as file:
            json.dump(self.data, file, indent=2, default=str)
        print(f"  results written to {path}")


def pass_fail(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def print_header(env: dict, postgres: str | None, ses_auto_throttle: bool) -> None:
    print(f"Python {env['python']}, Django {env['django']}, django-ses {env['django-ses']}, "
          f"django-anymail {env['django-anymail']} "
          f"(boto3 {env['boto3']}), requests {env['requests']}, {env['cpus']} CPUs, commit {env['commit']}")
    print(f"django_ses_query imported from {env['source']}")
    print(f"SQLite send log: {env['database']}; PostgreSQL: {redact(postgres) if postgres else 'not measured'}; "
          "django-ses auto-throttle: "
          f"{'on (0.5)' if ses_auto_throttle else 'off'}")


def print_profile(result: dict) -> None:
    """The profile worker's stage table (``n/a``: the stage's function was
    not found) and cProfile's text."""
    for stage, seconds in result["stages"].items():
        if seconds is None:
            print(f"      {stage:<48} {'n/a':>7}             ({result['stages_not_found'][stage]})")
        elif result["stage_calls"].get(stage) == 0:
            print(f"      {stage:<48} {seconds * 1e6:7.0f} us/message (not called)")
        else:
            print(f"      {stage:<48} {seconds * 1e6:7.0f} us/message")
    print(result["text"])


def redact(url: str) -> str:
    """A database URL without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def reproduce_command() -> str:
    python = sys.executable
    found = shutil.which("python3")
    if found and os.path.realpath(found) == os.path.realpath(python):
        python = "python3"
    return f"cd {shlex.quote(os.getcwd())} && {shlex.quote(python)} {shlex.join(redact(arg) for arg in sys.argv)}"
