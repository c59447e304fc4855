"""``--only templates``: one stored-template message with ``merge_data`` to
N recipients (ours: ``SendBulkTemplatedEmail``, 50 destinations per request,
``MAX_CONCURRENCY`` in flight), against anymail's SES v2 ``SendBulkEmail``
with N/50 messages of 50 recipients each (its way: one request per message,
one message at a time). The endpoint answers each destination on its own and
counts them; every run is checked against those counts.

``measure_templates`` runs in the parent; ``send_templated`` is the worker's
kind (``bench.py _worker SPEC`` with ``kind: "templates"``).
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

from .config import ANYMAIL, BULK_ACTION, FROM_EMAIL, OURS, TARGET_TEMPLATE_RATE, db_label
from .report import pass_fail

if TYPE_CHECKING:
    from .runner import Runner

TEMPLATE = "order-shipped"
PER_REQUEST = 50


def _messages(backend: str, n: int, start: int) -> list:
    from django.core.mail import EmailMessage

    addresses = [f"customer{i}@example.org" for i in range(start, start + n)]
    groups = [addresses] if backend == OURS else [
        addresses[i:i + PER_REQUEST] for i in range(0, n, PER_REQUEST)
    ]
    messages = []
    for group in groups:
        message = EmailMessage(from_email=FROM_EMAIL, to=group)
        message.template_id = TEMPLATE
        message.merge_global_data = {"shop": "Example Shop", "support": "support@example.com"}
        message.merge_data = {
            address: {"name": f"Customer {start + i}", "order": start + i, "parcel": f"PX{start + i:08d}"}
            for i, address in enumerate(group)
        }
        messages.append(message)
    return messages


def _accepted(backend: str, messages: list) -> int:
    if backend == OURS:
        return sum(s.status == "sent" for m in messages for s in m.ses_recipients.values())
    return sum(s.status == "queued" for m in messages for s in m.anymail_status.recipients.values())


def send_templated(spec: dict) -> tuple[dict, int]:
    """One send_messages() per run; recipients per second and CPU per recipient."""
    from django.core.mail import get_connection

    backend, n, runs = spec["backend"], spec["n"], spec["runs"]
    warm_up = _messages(backend, PER_REQUEST, start=10**6)  # one request: imports, connection
    get_connection().send_messages(warm_up)
    requests, accepted = 1, _accepted(backend, warm_up)
    rates, cpu = [], []
    for run in range(runs):
        messages = _messages(backend, n, start=run * n)
        started, started_cpu = time.perf_counter(), time.process_time()
        get_connection().send_messages(messages)
        rates.append(n / (time.perf_counter() - started))
        cpu.append((time.process_time() - started_cpu) / n)
        run_accepted = _accepted(backend, messages)
        assert run_accepted == n, (run_accepted, n)
        accepted += run_accepted
        requests += -(-n // PER_REQUEST)
    return {"recipients_per_s": rates, "cpu_per_recipient_s": cpu, "accepted": accepted}, requests


def measure_templates(runner: Runner) -> None:
    """[5] Stored templates: recipients per second of one merge_data message."""
    p = runner.params
    n, runs, rtt = p["template_recipients"], p["template_runs"], p["rtt_ms"]
    print(f"\n[5] Stored templates, {rtt} ms added per request: one merge_data message to N={n} "
          f"recipients (ours: SendBulkTemplatedEmail, 50 per request; anymail: {n // PER_REQUEST} "
          f"messages of {PER_REQUEST}, SES v2 SendBulkEmail), median of {runs} run(s), fresh processes")
    runner.conditions("templates")
    variants = [(f"ours, {db_label(runner.db)}, MAX_CONCURRENCY=16", OURS, runner.db, 16, True)]
    if runner.postgres:
        variants.append((f"ours, {db_label(runner.postgres)}, MAX_CONCURRENCY=16", OURS, runner.postgres, 16, True))
    variants += [
        ("ours, LOG=False, MAX_CONCURRENCY=16", OURS, runner.db, 16, False),
        (f"ours, {db_label(runner.db)}, MAX_CONCURRENCY=1", OURS, runner.db, 1, True),
        ("anymail, SendBulkEmail", ANYMAIL, runner.db, 1, True),
    ]
    rates: dict = {}
    cpu: dict = {}
    requests: dict = {}
    runner.endpoint.set_delay(rtt)
    try:
        for label, backend, db, concurrency, log in variants:
            spec = runner.spec(backend=backend, kind="templates", n=n, runs=runs, concurrency=concurrency,
                               db=db, log=log)
            result = runner.run_worker(spec, BULK_ACTION[backend])
            stats = runner.endpoint.stats()
            if stats["destinations"] != result["accepted"]:
                raise AssertionError(f"{label}: {result['accepted']} recipients accepted, the endpoint "
                                     f"answered {stats['destinations']} destinations")
            rates[label] = result["recipients_per_s"]
            cpu[label] = result["cpu_per_recipient_s"]
            requests[label] = (stats["requests"] - 1) // runs  # the warm-up is one request
    finally:
        runner.endpoint.set_delay(0)
    medians = {label: statistics.median(values) for label, values in rates.items()}
    for label, value in medians.items():
        print(f"    {label:<46} {value:8.0f} recipients/s, CPU {statistics.median(cpu[label]) * 1e6:5.0f} "
              f"us/recipient, {requests[label]} requests")
    runner.results.informational(
        "template_rates", unit="recipients/s", rtt_ms=rtt, n=n, medians=medians, samples=rates,
        cpu_per_recipient_s={label: statistics.median(values) for label, values in cpu.items()},
        requests=requests)
    label = variants[0][0]
    value, peer = medians[label], medians["anymail, SendBulkEmail"]
    passed = value >= TARGET_TEMPLATE_RATE and requests[label] == -(-n // PER_REQUEST)
    runner.results.record_target(
        "template_rate", ours=value, theirs=peer, ratio=value / peer, passed=passed, unit="recipients/s",
        target=f">= {TARGET_TEMPLATE_RATE:.0f} recipients/s", requests=requests[label])
    print(f"  {pass_fail(passed)}: {label}: {value:.0f} recipients/s in {requests[label]} "
          f"requests (target >= {TARGET_TEMPLATE_RATE:.0f})")
