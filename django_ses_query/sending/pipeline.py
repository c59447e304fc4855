"""The one send pipeline: every path a message takes to SES goes through it.

For each message, in order: ``pre_send`` (a receiver may cancel), building
the SES request (``params``), suppression (``suppression``), the rate limit
and the call (``client``: the SES call over the transport), the log row
(``sendlog``, grouped by ``logwriter``), and ``post_send``.

:class:`Pipeline` runs a batch one request at a time, or with
``MAX_CONCURRENCY`` requests in flight; log rows and signals always run on
the calling thread. What differs between paths is a small *path* object
(``direct`` for ``EmailBackend.send_messages()``, ``rows`` for a queued row
claimed by a worker): how an item becomes a request, and how its outcome is
recorded. There is no other send loop.

A message sent with a stored template and ``merge_data`` is one item that
becomes several jobs, one per ``SendBulkTemplatedEmail`` (50 destinations):
those are what is in flight, and once a message's first job has gone, the
rest go too (nothing is partly sent because another message failed).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any, Protocol

from ..conf import Config
from ..exceptions import CancelSend, SESError, SESInterruptedError, SESPreSendError
from ..params import SendRequest, build_request
from ..signals import pre_send
from ..templates.message import BulkSend, build_templated, is_bulk, is_templated

logger = logging.getLogger("django_ses_query")


@dataclass
class Job:
    """One message on its way: the message the signals see, its request
    (None when it failed before one was built) and its queued row, if any."""

    message: Any
    request: SendRequest | None = None
    row: Any = None
    done: bool = False
    #: What the jobs of one bulk message share (see ``sending/bulk.py``).
    group: Any = None
    #: Set by ``Path.record``: the failure to report for this job (raised
    #: unless ``fail_silently``), or None.
    error: SESError | None = None


class Path(Protocol):
    """How one kind of item goes through the pipeline."""

    def prepare(self, item) -> Job | list[Job] | None:
        """The job (or jobs, in order) for ``item``, or None (nothing to
        send); may raise SESError."""

    def unprepared(self, item) -> Job:
        """The job to record when ``prepare`` raised."""

    def record(self, job: Job, response=None, error: SESError | None = None) -> int:
        """Log the outcome and fire ``post_send``; 1 when it makes its
        message count as sent, else 0. Sets ``job.error``."""

    def commit_due(self) -> None:
        """Write rows that waited long enough."""

    def timeout(self) -> float | None:
        """Seconds until waiting rows are due, or None."""


class Pipeline:
    """The send pipeline of one backend (one :class:`Config`).

    ``sender`` is the class the signals are sent with (the backend's).
    """

    def __init__(self, config: Config, *, sender: type) -> None:
        # Imported here: importing the backend's module brings in no HTTP.
        from ..client import SESClient
        from ..credentials import provider_for

        self.config = config
        self.sender = sender
        self.client = SESClient(config, provider_for(config))
        self.lock = threading.RLock()

    def open(self) -> bool:
        """Open the keep-alive HTTP session; True when it is new."""
        with self.lock:
            return self.client.open()

    def close(self) -> None:
        with self.lock:
            self.client.close()

    # The stages.

    def prepare(self, message) -> SendRequest | BulkSend | None:
        """``pre_send``, then the request (a :class:`BulkSend` for a stored
        template with ``merge_data``, split into requests once suppression
        has run). None: cancelled by a receiver."""
        try:
            pre_send.send(sender=self.sender, message=message)
        except CancelSend as cancel:
            logger.info("Send cancelled by a pre_send receiver: %s", cancel or "no reason given")
            return None
        except Exception as error:
            # Logged as a failure like any other (see raise_error).
            raise SESPreSendError(error) from None
        build = build_templated if is_templated(message) else build_request
        return build(
            message,
            default_configuration_set=self.config.configuration_set,
            default_tags=self.config.tags,
        )

    def keeps_recipients(self, request: SendRequest) -> bool:
        """Suppression: take suppressed recipients out of ``request``;
        False when nobody is left. Always True without ``SUPPRESSION``."""
        if not self.config.suppression:
            return True
        from .suppression import remove_suppressed

        return remove_suppressed(request, self.config.log_database)

    def drop_suppressed(self, bulk: BulkSend) -> None:
        """Suppression for a bulk send, before it is split into requests."""
        if self.config.suppression:
            from .suppression import drop_suppressed

            drop_suppressed(bulk, self.config.log_database)

    def transmit(self, request: SendRequest):
        """The rate limit and the call (safe on a worker thread: no database
        access). Every attempt, retries included, waits for the send rate:
        SES counts each recipient of each request."""
        return self.client.call(request.action, body=request.body, recipients=request.recipient_count)

    def post_send(self, message, log, error) -> None:
        from ..signals import post_send

        try:
            post_send.send(sender=self.sender, message=message, log=log, error=error)
        except Exception:
            logger.exception("A post_send receiver failed.")

    # The loop.

    def run(self, path: Path, items: Iterable, *, fail_silently: bool) -> int:
        """Send ``items`` along ``path``; return how many SES accepted.

        Without ``fail_silently`` the first failure stops new sends (those
        in flight finish and are recorded) and is raised."""
        items = list(items)
        # A bulk message is many requests: up to MAX_CONCURRENCY in flight.
        requests = self.config.max_concurrency if any(map(is_bulk, items)) else len(items)
        if self.config.max_concurrency > 1 and requests > 1:
            return self._run_concurrently(path, items, fail_silently, requests)
        return self._run_sequentially(path, items, fail_silently)

    def _run_sequentially(self, path: Path, items: list, fail_silently: bool) -> int:
        sent = 0
        for item in items:
            path.commit_due()
            try:
                jobs = as_jobs(path.prepare(item))
            except SESError as error:
                path.record(path.unprepared(item), error=error)
                if not fail_silently:
                    raise_error(error)
                continue
            for job in jobs:
                try:
                    response = self.transmit(job.request)
                except SESError as error:
                    sent += path.record(job, error=error)
                except (KeyboardInterrupt, SystemExit) as interruption:
                    # Stopped after the request was written: SES may have sent it.
                    if getattr(interruption, "ses_outcome_unknown", False):
                        path.record(job, error=SESInterruptedError(interruption))
                    raise
                else:
                    sent += path.record(job, response)
                if job.error is not None and not fail_silently:
                    raise_error(job.error)
        return sent

    def _run_concurrently(self, path: Path, items: list, fail_silently: bool, requests: int) -> int:
        sent = 0
        first_error: SESError | None = None
        in_flight: dict[Future, Job] = {}
        # Each request's future, as it completes (cheaper than wait() over
        # every future in flight at each completion).
        completed: SimpleQueue[Future] = SimpleQueue()
        pending = iter(items)
        ready: deque[Job] = deque()  # the rest of a bulk message's jobs
        workers = min(self.config.max_concurrency, requests)
        with ThreadPoolExecutor(workers, thread_name_prefix="django_ses_query") as pool, ExitStack() as stack:
            # If something unexpected (a pre_send receiver's exception...) is
            # on its way out, the sends in flight still get their rows.
            stack.callback(drain, path, in_flight)
            while True:
                # Keep up to `workers` requests in flight until a failure
                # (when not failing silently) stops new messages.
                while len(in_flight) < workers and (first_error is None or ready):
                    if not ready:
                        item = next(pending, None)
                        if item is None:
                            break
                        try:
                            ready.extend(as_jobs(path.prepare(item)))
                        except SESError as error:
                            path.record(path.unprepared(item), error=error)
                            if not fail_silently:
                                first_error = error
                        continue
                    job = ready.popleft()
                    future = pool.submit(self.transmit, job.request)
                    in_flight[future] = job
                    future.add_done_callback(completed.put)
                if not in_flight:
                    break
                # Woken when the rows waiting are due, to commit them.
                done = []
                try:
                    done.append(completed.get(timeout=path.timeout()))
                    while not completed.empty():
                        done.append(completed.get_nowait())
                except Empty:
                    pass
                path.commit_due()
                for future in done:
                    job = in_flight.pop(future)
                    try:
                        response = future.result()
                    except SESError as error:
                        sent += path.record(job, error=error)
                    else:
                        sent += path.record(job, response)
                    if job.error is not None and not fail_silently and first_error is None:
                        first_error = job.error
        if first_error is not None:
            raise_error(first_error)
        return sent


def as_jobs(prepared: Job | list[Job] | None) -> list[Job]:
    if prepared is None:
        return []
    return prepared if isinstance(prepared, list) else [prepared]


def drain(path: Path, in_flight: dict[Future, Job]) -> None:
    """Record the requests still in flight when the loop is left early."""
    while in_flight:
        future, job = in_flight.popitem()
        try:
            response = future.result()
        except SESError as error:
            path.record(job, error=error)
        except Exception:
            logger.exception("Sending %r failed unexpectedly.", str(getattr(job.message, "subject", "") or ""))
        else:
            path.record(job, response)


def raise_error(error: SESError):
    """Raise ``error``; for a pre_send receiver's failure, its own exception."""
    if isinstance(error, SESPreSendError):
        raise error.error from None
    raise error
