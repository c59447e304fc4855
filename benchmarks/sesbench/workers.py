"""What runs in the child processes: Django set up for one backend, the
sending loops and what each measurement does there.

``bench.py _worker SPEC`` runs ``worker(SPEC)`` and prints ``RESULT`` and its
JSON; ``_coldstart`` and ``_importcost`` print one line that the parent
times or reads; ``_migrate`` migrates the send-log database. SPEC is a JSON
object: backend, kind, db, url and the run's sizes.

Imports of Django and the backends happen inside the functions: the cold
start is timed from the process's start.
"""

from __future__ import annotations

import time

from .config import (
    ACCESS_KEY_ID, BACKENDS, BODY, CC_EMAIL, FROM_EMAIL, HTML, MEMORY_DB, OURS, REGION, REPLY_TO,
    SECRET_ACCESS_KEY, SUBJECT, THEIRS, TO_EMAIL, database_settings,
)
from .templates import send_templated


def setup_django(spec: dict) -> None:
    """Configure Django for one backend: the same settings for every backend
    but EMAIL_BACKEND (a small project: contenttypes, auth and our app, whose
    send-log table is migrated before anything is measured)."""
    import django
    from django.conf import settings

    backend = spec["backend"]
    installed = ["django.contrib.contenttypes", "django.contrib.auth", "django_ses_query"]
    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        SECRET_KEY="benchmark-only",
        INSTALLED_APPS=installed,
        DATABASES={"default": database_settings(spec["db"])},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        EMAIL_BACKEND=BACKENDS[backend],
        # django-ses-query
        SES_QUERY={
            "ENDPOINT_URL": spec["url"],
            "ACCESS_KEY_ID": ACCESS_KEY_ID,
            "SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "REGION": REGION,
            "MAX_CONCURRENCY": spec.get("concurrency", 1),
            "LOG": spec.get("log", True),
        },
        # django-ses 4.x (django_ses/conf.py)
        AWS_SES_ACCESS_KEY_ID=ACCESS_KEY_ID,
        AWS_SES_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        AWS_SES_REGION_NAME=REGION,
        AWS_SES_REGION_ENDPOINT_URL=spec["url"],
        # Off by default here: ours does not rate-limit either unless told to.
        AWS_SES_AUTO_THROTTLE=0.5 if spec.get("ses_throttle") else None,
        # django-anymail (anymail/backends/amazon_ses.py: boto3 "sesv2")
        ANYMAIL={"AMAZON_SES_CLIENT_PARAMS": {
            "endpoint_url": spec["url"],
            "region_name": REGION,
            "aws_access_key_id": ACCESS_KEY_ID,
            "aws_secret_access_key": SECRET_ACCESS_KEY,
        }},
    )
    django.setup()
    if spec["db"] == MEMORY_DB and backend == OURS:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def make_message(i: int):
    """The benchmark's message: text + HTML, one To, one Cc, a Reply-To."""
    from django.core.mail import EmailMultiAlternatives

    message = EmailMultiAlternatives(
        SUBJECT.format(i=i), BODY, FROM_EMAIL, [TO_EMAIL.format(i=i)], cc=[CC_EMAIL], reply_to=[REPLY_TO]
    )
    message.attach_alternative(HTML, "text/html")
    return message


def make_messages(n: int, start: int = 0) -> list:
    return [make_message(i) for i in range(start, start + n)]


def send_mail_loop(n: int, start: int = 0) -> int:
    """One message per mail call, each on a new connection (what
    ``send_mail()`` and ``EmailMessage.send()`` do)."""
    sent = 0
    for i in range(start, start + n):
        sent += make_message(i).send()
    return sent


def send_batch(messages: list) -> int:
    from django.core.mail import get_connection

    return get_connection().send_messages(messages) or 0


#: What each backend attaches to a sent message on purpose (see detach()).
ATTACHED = {
    OURS: "message.ses_log (the EmailLog row) + message.ses_message_id",
    THEIRS: "message.extra_headers status, message_id, request_id",
}


def detach(backend: str, messages: list) -> None:
    """Drop what the backend attached to each sent message on purpose,
    leaving the messages as they were before the send."""
    if backend == OURS:
        for message in messages:
            # send_messages() sets both to None before sending.
            message.ses_log = message.ses_message_id = None
    elif backend == THEIRS:
        # django_ses.SESBackend.send_messages() records the answer in the
        # message's extra_headers; a new dict, so its grown table goes too.
        for message in messages:
            message.extra_headers = {
                key: value for key, value in message.extra_headers.items()
                if key not in ("status", "message_id", "request_id")
            }


def attribute_cost(backend: str, n: int) -> int:
    """Memory that giving n unsent messages the backend's new attributes
    takes by itself (ours: ses_message_id and ses_log, set to None): each
    message's attribute dict grows, and detach() cannot shrink it back."""
    import gc
    import tracemalloc

    if backend != OURS:
        return 0  # django-ses only adds keys to extra_headers, which detach() replaces
    messages = make_messages(n, start=2 * 10**6)
    gc.collect()
    before, _ = tracemalloc.get_traced_memory()
    for message in messages:
        message.ses_message_id = message.ses_log = None
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    return after - before


def worker(spec: dict) -> dict:
    """Run one measurement (``spec["kind"]``) in this process; the result
    includes ``sent``, every message the backend reported sent (warm-ups
    too), for the parent to check against the endpoint's count."""
    setup_django(spec)
    kind = spec["kind"]
    try:
        measure = KINDS[kind]
    except KeyError:
        raise ValueError(kind) from None
    figures, sent = measure(spec)
    return {"backend": spec["backend"], "kind": kind, **figures, "sent": sent}


def timed_sends(spec: dict) -> tuple[dict, int]:
    """``send_mail``: N mail calls; ``batch``: one send_messages() of N.
    Wall and CPU time per message, for each of ``runs`` runs."""
    kind, n, runs = spec["kind"], spec["n"], spec["runs"]
    if kind == "send_mail":
        total_sent = send_mail_loop(min(20, n), start=10**6)  # warm-up
    else:
        total_sent = send_batch(make_messages(min(100, n), start=10**6))  # warm-up
    times, cpu = [], []
    for run in range(runs):
        messages = make_messages(n, start=run * n) if kind == "batch" else None
        started, started_cpu = time.perf_counter(), time.process_time()
        if kind == "batch":
            sent = send_batch(messages)
        else:
            sent = send_mail_loop(n, start=run * n)
        times.append((time.perf_counter() - started) / n)
        cpu.append((time.process_time() - started_cpu) / n)
        assert sent == n, (sent, n)
        total_sent += sent
        del messages
    return {"per_message_s": times, "cpu_per_message_s": cpu}, total_sent


def throughput(spec: dict) -> tuple[dict, int]:
    """Messages per second of one send_messages() of N, ``runs`` times."""
    n, runs = spec["n"], spec["runs"]
    total_sent = send_batch(make_messages(min(spec["concurrency"], n), start=10**6))
    rates = []
    for run in range(runs):
        messages = make_messages(n, start=run * n)
        started = time.perf_counter()
        sent = send_batch(messages)
        rates.append(n / (time.perf_counter() - started))
        assert sent == n, (sent, n)
        total_sent += sent
    return {"messages_per_s": rates}, total_sent


def memory(spec: dict) -> tuple[dict, int]:
    """tracemalloc figures of one send_messages() of N."""
    import gc
    import resource
    import tracemalloc

    n = spec["n"]
    total_sent = send_batch(make_messages(20, start=10**6))  # imports, lazy caches
    gc.collect()
    tracemalloc.start()
    empty, _ = tracemalloc.get_traced_memory()
    messages = make_messages(n)
    gc.collect()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    sent = send_batch(messages)
    _, peak = tracemalloc.get_traced_memory()
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    detach(spec["backend"], messages)
    gc.collect()
    detached, _ = tracemalloc.get_traced_memory()
    del messages
    gc.collect()
    left, _ = tracemalloc.get_traced_memory()
    slots = attribute_cost(spec["backend"], n)
    tracemalloc.stop()
    assert sent == n, (sent, n)
    total_sent += sent
    return dict(
        messages_bytes=base,
        peak_bytes=peak,
        # The backend's own memory while sending: freed when the call returns.
        working_bytes=peak - held,
        # Still held once the call returned: what the backend attached to
        # the messages on purpose (with the room the new attributes take
        # in each message), and anything else.
        attached_bytes=held - detached + slots,
        attribute_slots_bytes=slots,
        held_otherwise_bytes=detached - base - slots,
        peak_over_messages=peak - base,
        retained_after_send=held - base,
        left_after_messages_freed=left - empty,
        ru_maxrss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    ), total_sent


def profile(spec: dict) -> tuple[dict, int]:
    """Wall time per stage of one batch (timers, no profiler), then a
    cProfile of another batch of the same size (no timers)."""
    import cProfile
    import io
    import pstats

    from .stages import time_stages

    n = spec["n"]
    total_sent = send_batch(make_messages(min(100, n), start=10**6))
    # 1. Wall time per stage, no profiler (functions wrapped with timers).
    timers = time_stages()
    messages = make_messages(n)
    started = time.perf_counter()
    try:
        total_sent += send_batch(messages)
        elapsed = time.perf_counter() - started
    finally:
        timers.remove()
    stage_times = {"send_messages() as a whole": elapsed / n}
    stage_times.update(timers.per_message(n))
    del messages
    # 2. cProfile of the same batch (without the timers).
    messages = make_messages(n, start=n)
    profiler = cProfile.Profile()
    profiler.enable()
    sent = send_batch(messages)
    profiler.disable()
    total_sent += sent
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("cumulative").print_stats(10)
    stats.sort_stats("tottime").print_stats(25)
    return dict(stages=stage_times, stage_calls=timers.calls, stages_not_found=timers.missing,
                text=stream.getvalue()), total_sent


#: spec["kind"] -> what the worker does.
KINDS = {
    "send_mail": timed_sends,
    "batch": timed_sends,
    "throughput": throughput,
    "memory": memory,
    "profile": profile,
    "templates": send_templated,
}


def cold_start(spec: dict) -> None:
    """Set Django up, send one message, say so: the parent times it."""
    setup_django(spec)
    from django.core.mail import send_mail

    sent = send_mail("Cold start", BODY, FROM_EMAIL, ["customer@example.org"])
    cpu = time.process_time()  # user + system CPU of this process so far
    print(f"SENT {sent} {cpu:.6f}", flush=True)


def import_cost(spec: dict) -> None:
    """In a process set up like the locmem cold start (Django configured, one
    message through locmem), time ``import requests``, then the rest of our
    backend's import: what our cold start adds in imports, ``requests`` apart."""
    setup_django(spec)
    from django.core.mail import send_mail

    send_mail("Cold start", BODY, FROM_EMAIL, ["customer@example.org"])
    started = time.perf_counter()
    import requests  # noqa: F401

    imported_requests = time.perf_counter()
    import django_ses_query.backend  # noqa: F401

    done = time.perf_counter()
    print(f"IMPORT {imported_requests - started:.6f} {done - imported_requests:.6f}", flush=True)


def migrate(spec: dict) -> None:
    """Create or update the send-log tables of ``spec["db"]``."""
    setup_django(spec)
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
