"""The measurements: each runs its workers through the Runner, prints its
figures and records them (and its targets) in ``runner.results``."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from .config import (
    ANYMAIL, LOCMEM, MEMORY_DB, OURS, PEERS, SEND_ACTION, TARGET_COLD_START_RATIO, TARGET_CPU_LOG_MEMORY,
    TARGET_CPU_LOG_OFF, TARGET_MEMORY_SLOPE, TARGET_OVERHEAD_RATIO, TARGET_RATE_32, TARGET_THROUGHPUT_RATIO,
    THEIRS, db_label,
)
from .report import pass_fail, print_profile
from .templates import measure_templates
from .workers import ATTACHED

if TYPE_CHECKING:
    from .runner import Runner


def overhead(runner: Runner) -> None:
    """[1] Per-message client time: one message per mail call, no added RTT."""
    p = runner.params
    n = p["overhead_send_mail_n"]
    variants = (OURS, *PEERS)
    print(f"\n[1] Per-message client time, no added RTT: N={n} mail calls, one message each on a new "
          f"connection (median of {p['overhead_runs']} runs x {p['overhead_rounds']} processes per "
          "backend, alternating)")
    runner.conditions("overhead")
    floor = runner.endpoint.floor_per_request()
    runner.results["endpoint_floor_s"] = floor
    print(f"    floor: a bare keep-alive POST to the endpoint (http.client) takes {floor * 1e6:.0f} us")
    wall = {variant: [] for variant in variants}
    cpu = {variant: [] for variant in variants}
    for _ in range(p["overhead_rounds"]):
        for backend in variants:
            spec = runner.spec(backend=backend, kind="send_mail", n=n, runs=p["overhead_runs"], concurrency=1)
            result = runner.run_worker(spec, SEND_ACTION[backend])
            wall[backend] += result["per_message_s"]
            cpu[backend] += result["cpu_per_message_s"]
    for backend in variants:
        value = statistics.median(wall[backend])
        print(f"    {backend:<11} {value * 1e6:9.0f} us/message wall ({1 / value:6.0f} msg/s; runs "
              f"{min(wall[backend]) * 1e6:.0f}-{max(wall[backend]) * 1e6:.0f}), "
              f"client CPU {statistics.median(cpu[backend]) * 1e6:6.0f} us/message")
    ours, theirs = statistics.median(wall[OURS]), statistics.median(wall[THEIRS])
    cpu_ratio = statistics.median(cpu[OURS]) / statistics.median(cpu[THEIRS])
    print(f"    (client CPU ratio ours/django-ses: {cpu_ratio:.3f}; anymail: "
          f"{statistics.median(wall[ANYMAIL]) * 1e6:.0f} us/message)")
    runner.results.ratio_target("overhead_send_mail", ours, theirs, ours / theirs, "<= 0.333",
                                ours / theirs <= TARGET_OVERHEAD_RATIO, "s/message (wall)", n=n,
                                samples=wall, cpu_samples=cpu, cpu_ratio=cpu_ratio,
                                anymail=statistics.median(wall[ANYMAIL]))


def cpu_batch(runner: Runner) -> None:
    """[1b] Per-message CPU in one send_messages() batch, MAX_CONCURRENCY=1."""
    p = runner.params
    n = p["overhead_batch_n"]
    variants = [("ours, log in memory", OURS, MEMORY_DB, True),
                ("ours, log on file", OURS, runner.db, True)]
    if runner.postgres:
        variants.append(("ours, log on PostgreSQL", OURS, runner.postgres, True))
    variants += [("ours, LOG=False", OURS, runner.db, False),
                 (THEIRS, THEIRS, runner.db, True), (ANYMAIL, ANYMAIL, runner.db, True)]
    print(f"\n[1b] Per-message CPU in one send_messages() batch of N={n}, MAX_CONCURRENCY=1, no added RTT "
          f"(median of {p['overhead_runs']} runs x {p['overhead_rounds']} processes each, alternating)")
    runner.conditions("cpu")
    wall = {label: [] for label, *_ in variants}
    cpu = {label: [] for label, *_ in variants}
    for _ in range(p["overhead_rounds"]):
        for label, backend, db, log in variants:
            spec = runner.spec(backend=backend, kind="batch", n=n, runs=p["overhead_runs"], concurrency=1,
                               log=log, db=db)
            result = runner.run_worker(spec, SEND_ACTION[backend])
            wall[label] += result["per_message_s"]
            cpu[label] += result["cpu_per_message_s"]
    medians = {}
    for label, *_ in variants:
        medians[label] = statistics.median(cpu[label])
        print(f"    {label:<24} CPU {medians[label] * 1e6:6.0f} us/message (runs "
              f"{min(cpu[label]) * 1e6:.0f}-{max(cpu[label]) * 1e6:.0f}); wall "
              f"{statistics.median(wall[label]) * 1e6:6.0f} us/message")
    runner.results.informational(
        "cpu_batch", unit="s of client CPU per message", medians=medians, cpu_samples=cpu, wall_samples=wall, n=n)
    for label, limit, name in (("ours, log in memory", TARGET_CPU_LOG_MEMORY, "cpu_log_memory"),
                               ("ours, LOG=False", TARGET_CPU_LOG_OFF, "cpu_log_off")):
        value = medians[label]
        passed = value <= limit
        runner.results.record_target(
            name, ours=value, theirs=medians[THEIRS], ratio=value / medians[THEIRS],
            target=f"<= {limit * 1e3:.1f} ms CPU/message", passed=passed, unit="s CPU/message",
            anymail=medians[ANYMAIL])
        print(f"  {pass_fail(passed)}: {label}: {value * 1e3:.3f} ms CPU per message "
              f"(target <= {limit * 1e3:.1f} ms)")


def cold_start(runner: Runner) -> None:
    """[2] Process start to first accepted message, minus locmem's; and the
    share of it that is imports."""
    p = runner.params
    print(f"\n[2] Cold start: process start to first accepted message (median of "
          f"{p['cold_start_samples']} fresh processes each, interleaved)")
    runner.conditions("cold_start")
    order = (LOCMEM, OURS, THEIRS, ANYMAIL)
    for backend in order:  # warm-up: bytecode caches, page cache
        runner.time_cold_start(backend)
    wall = {backend: [] for backend in order}
    cpu = {backend: [] for backend in order}
    for _ in range(p["cold_start_samples"]):
        for backend in order:
            elapsed, used = runner.time_cold_start(backend)
            wall[backend].append(elapsed)
            cpu[backend].append(used)
    med = {backend: statistics.median(values) for backend, values in wall.items()}
    med_cpu = {backend: statistics.median(values) for backend, values in cpu.items()}
    for backend in order:
        extra = "" if backend == LOCMEM else (
            f"  extra over locmem: {(med[backend] - med[LOCMEM]) * 1e3:6.1f} ms wall, "
            f"{(med_cpu[backend] - med_cpu[LOCMEM]) * 1e3:6.1f} ms CPU")
        print(f"    {backend:<11} {med[backend] * 1e3:7.1f} ms wall (min {min(wall[backend]) * 1e3:6.1f}), "
              f"{med_cpu[backend] * 1e3:6.1f} ms CPU{extra}")
    ours = med[OURS] - med[LOCMEM]
    theirs = med[THEIRS] - med[LOCMEM]
    cpu_ratio = (med_cpu[OURS] - med_cpu[LOCMEM]) / (med_cpu[THEIRS] - med_cpu[LOCMEM])
    print(f"    (CPU extra ratio ours/theirs: {cpu_ratio:.3f})")
    runner.time_imports()  # warm-up
    imports = [runner.time_imports() for _ in range(p["cold_start_samples"])]
    requests_s = statistics.median(i[0] for i in imports)
    rest_s = statistics.median(i[1] for i in imports)
    ratio = ours / theirs
    print(f"    (anymail's extra over locmem: {(med[ANYMAIL] - med[LOCMEM]) * 1e3:.1f} ms)")
    print(f"    `import requests` takes {requests_s * 1e3:.1f} ms = {requests_s / ours:.0%} of our extra "
          f"{ours * 1e3:.1f} ms; the rest of our imports {rest_s * 1e3:.1f} ms (each timed on its own, "
          f"median of {len(imports)} fresh processes set up like locmem's, so the parts need not add "
          "up exactly to the extra)")
    print(f"    (our extra minus `import requests`: {(ours - requests_s) * 1e3:.1f} ms, ratio "
          f"{(ours - requests_s) / theirs:.3f}; requests is a product requirement)")
    runner.results.ratio_target("cold_start_extra", ours, theirs, ratio, "<= 0.4",
                                ratio <= TARGET_COLD_START_RATIO, "s (wall, extra over locmem)", samples=wall,
                                cpu_samples=cpu, cpu_ratio=cpu_ratio, locmem=med[LOCMEM],
                                import_requests_s=requests_s, import_ours_rest_s=rest_s,
                                import_samples=imports, import_requests_share=requests_s / ours,
                                anymail=med[ANYMAIL] - med[LOCMEM])


def throughput(runner: Runner) -> None:
    """[3] Messages per second of one batch with a round-trip time added."""
    p = runner.params
    rtt, runs = p["rtt_ms"], p["throughput_runs"]
    dbs = [runner.db] + ([runner.postgres] if runner.postgres else [])
    print(f"\n[3] Batch throughput, {rtt} ms added per request: one send_messages() of N messages "
          f"(median of {runs} runs each, fresh processes)")
    runner.conditions("throughput")
    runner.endpoint.set_delay(rtt)
    rates: dict = {}
    try:
        for _ in range(runs):
            for db in dbs:
                for concurrency, n in p["rate_ns"].items():
                    spec = runner.spec(backend=OURS, kind="throughput", n=n, runs=1,
                                       concurrency=concurrency, db=db)
                    key = f"ours, {db_label(db)}, MAX_CONCURRENCY={concurrency}"
                    rates.setdefault(key, []).extend(runner.run_worker(spec)["messages_per_s"])
            for backend in PEERS:
                spec = runner.spec(backend=backend, kind="throughput", n=p["rate_peer_n"], runs=1,
                                   concurrency=1)
                rates.setdefault(backend, []).extend(runner.run_worker(spec)["messages_per_s"])
    finally:
        runner.endpoint.set_delay(0)
    medians = {key: statistics.median(values) for key, values in rates.items()}
    for key, value in medians.items():
        print(f"    {key:<46} {value:8.1f} msg/s (runs {min(rates[key]):.0f}-{max(rates[key]):.0f})")
    runner.results.informational(
        "throughput_matrix", unit="messages/s", rtt_ms=rtt, medians=medians, samples=rates, ns=p["rate_ns"])
    # The earlier target: ours at MAX_CONCURRENCY=10 on the file database vs django-ses.
    ours10 = medians[f"ours, {db_label(runner.db)}, MAX_CONCURRENCY=10"]
    ratio = ours10 / medians[THEIRS]
    runner.results.ratio_target("throughput_20ms", ours10, medians[THEIRS], ratio, ">= 8",
                                ratio >= TARGET_THROUGHPUT_RATIO, "messages/s", anymail=medians[ANYMAIL])
    for db in dbs:
        value = medians[f"ours, {db_label(db)}, MAX_CONCURRENCY=32"]
        passed = value >= TARGET_RATE_32
        name = "rate_32_" + ("postgresql" if db == runner.postgres else "sqlite")
        runner.results.record_target(
            name, ours=value, theirs=medians[THEIRS], ratio=value / medians[THEIRS],
            target=f">= {TARGET_RATE_32:.0f} msg/s", passed=passed, unit="messages/s",
            anymail=medians[ANYMAIL])
        print(f"  {pass_fail(passed)}: {db_label(db)}, MAX_CONCURRENCY=32: {value:.0f} msg/s "
              f"(target >= {TARGET_RATE_32:.0f})")


def memory(runner: Runner) -> None:
    """[4] tracemalloc figures of one batch, at two sizes."""
    p = runner.params
    small, large = p["memory_ns"]
    print(f"\n[4] Memory of one send_messages() batch (tracemalloc, fresh process each; "
          f"ours: MAX_CONCURRENCY={p['concurrency']})")
    print("    working  = peak during send_messages() - memory held once it returned: the backend's own,\n"
          "               transient memory for the batch (the target: flat in N)\n"
          "    attached = held once it returned by what the backend attaches to each message on purpose,\n"
          "               until the caller drops the messages (by design, not judged):")
    for backend in (OURS, THEIRS):
        print(f"               {backend}: {ATTACHED[backend]}")
    print("               (ours' includes the room the two new attributes take in each message's __dict__)")
    print("    other    = held once it returned otherwise, over the messages' own memory; 'left' = still "
          "allocated once the messages are freed too")
    data = {}
    for backend in (OURS, THEIRS):
        data[backend] = {}
        for n in (small, large):
            spec = runner.spec(backend=backend, kind="memory", n=n, concurrency=p["concurrency"])
            data[backend][n] = result = runner.run_worker(spec)
            print(f"    {backend:<11} N={n:>6}: messages {result['messages_bytes'] / 2**20:6.2f} MiB, "
                  f"working {result['working_bytes'] / 2**20:6.2f} MiB, attached "
                  f"{result['attached_bytes'] / 2**20:6.2f} MiB, other "
                  f"{result['held_otherwise_bytes'] / 2**20:5.2f} MiB, left "
                  f"{result['left_after_messages_freed'] / 2**20:5.2f} MiB")

    def slope(backend: str, key: str) -> float:
        return (data[backend][large][key] - data[backend][small][key]) / (large - small)

    slopes = {}
    for backend in data:
        slopes[backend] = {key: slope(backend, key) for key in (
            "working_bytes", "attached_bytes", "held_otherwise_bytes", "left_after_messages_freed")}
        print(f"    {backend:<11} per extra message: working {slopes[backend]['working_bytes']:+6.0f} B, "
              f"attached {slopes[backend]['attached_bytes']:+6.0f} B, other "
              f"{slopes[backend]['held_otherwise_bytes']:+5.0f} B, left "
              f"{slopes[backend]['left_after_messages_freed']:+4.0f} B")
    ours = data[OURS][large]["working_bytes"]
    theirs = data[THEIRS][large]["working_bytes"]
    working_slope = slopes[OURS]["working_bytes"]
    passed = working_slope <= TARGET_MEMORY_SLOPE
    print(f"    ratio ours/theirs (working memory, N={large}) = {ours / theirs:.3f}")
    runner.results.record_target(
        "memory_flat", ours=ours, theirs=theirs, ratio=ours / theirs, unit=f"bytes of working memory at N={large}",
        target=f"ours' working memory flat in N (<= {TARGET_MEMORY_SLOPE} B per extra message)",
        passed=passed, slope_bytes_per_message=slopes, runs=data,
    )
    runner.results.informational(
        "memory_attached", ours=slopes[OURS]["attached_bytes"], theirs=slopes[THEIRS]["attached_bytes"],
        unit="bytes held per sent message by what the backend attaches on purpose",
        what={backend: ATTACHED[backend] for backend in data},
    )
    print(f"  {pass_fail(passed)}: ours' working memory grows {working_slope:.0f} B per extra "
          f"message (target: <= {TARGET_MEMORY_SLOPE} B, i.e. flat)")
    print(f"  info: attached by design, per message: ours {slopes[OURS]['attached_bytes']:.0f} B "
          f"(the EmailLog row the product returns as message.ses_log, and the MessageId), "
          f"django-ses {slopes[THEIRS]['attached_bytes']:.0f} B")


def profile(runner: Runner) -> None:
    """``--profile``: where our batch send spends its time."""
    n = runner.params["overhead_batch_n"]
    print(f"\n[profile] Our send_messages() batch, N={n}, MAX_CONCURRENCY=1, log in memory: wall time by "
          "stage (no profiler), then cProfile (top ten by cumulative time, then top 25 by own time)")
    runner.conditions("profile")
    result = runner.run_worker(runner.spec(backend=OURS, kind="profile", n=n, concurrency=1, db=MEMORY_DB))
    print_profile(result)
    runner.results["profile"] = {k: v for k, v in result.items() if k != "text"}


#: ``--only NAME`` -> the measurement, in the order of a full run.
MEASUREMENTS = {
    "overhead": overhead,
    "cpu": cpu_batch,
    "cold-start": cold_start,
    "throughput": throughput,
    "memory": memory,
    "templates": measure_templates,
}
