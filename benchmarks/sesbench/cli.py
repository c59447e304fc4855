"""The command line of ``bench.py``, and the modes its child processes are
started in (``bench.py _serve``, ``_worker SPEC``, ``_coldstart SPEC``,
``_importcost SPEC``, ``_migrate SPEC``).

A child imports only what its mode needs: cold starts are timed from the
process's start.
"""

from __future__ import annotations

import json
import sys

def child(mode: str, argv: list[str]) -> int:
    if mode == "_serve":
        from .endpoint import serve

        serve()
        return 0
    from . import workers

    spec = json.loads(argv[0])
    if mode == "_worker":
        result = workers.worker(spec)
        print("RESULT " + json.dumps(result), flush=True)
    elif mode == "_coldstart":
        workers.cold_start(spec)
    elif mode == "_importcost":
        workers.import_cost(spec)
    elif mode == "_migrate":
        workers.migrate(spec)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    return 0


def parse_args(argv: list[str]):
    import argparse

    from . import __doc__ as description
    from .measure import MEASUREMENTS

    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N and few repeats: a smoke run")
    parser.add_argument("--json", metavar="PATH", help="also write every figure and sample to PATH")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of our batch send (where the time goes)")
    parser.add_argument("--only", action="append", choices=list(MEASUREMENTS),
                        help="run only this measurement (repeatable)")
    parser.add_argument("--ses-auto-throttle", action="store_true",
                        help="leave django-ses's AWS_SES_AUTO_THROTTLE at its default (0.5) instead of off")
    parser.add_argument("--source", metavar="DIR",
                        help="import django_ses_query from DIR (default: this checkout)")
    parser.add_argument("--db-dir", help="directory for the SQLite send-log file (default: the temp dir)")
    parser.add_argument("--postgres", metavar="URL",
                        help="also measure with the send log on PostgreSQL: postgresql://user:password@host:port/"
                             "name (migrated first; the bench adds rows to its EmailLog table)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0].startswith("_"):
        return child(argv[0], argv[1:])
    args = parse_args(argv)

    from .report import reproduce_command
    from .runner import Runner

    print(f"Reproduce: {reproduce_command()}", flush=True)
    return Runner(args).run()
