"""The one send pipeline: every path a message takes to SES goes through it.

For each message, in order: ``pre_send`` (a receiver may cancel), building
the SES request (``params``; a message with an unsubscribe topic becomes one
copy per recipient, ``copies``), suppression (``suppression``, per copy and
topic), the rate limit and the call (``client``: the SES call over the
transport), the log row (``sendlog``, grouped by ``logwriter``), and
``post_send`` (per copy).

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
from functools import cached_property
from collections.abc import Iterable
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any, Protocol

from ..conf import Config
from ..exceptions import CancelSend, SESError, SESInterruptedError, SESPreSendError
from ..params import SendRequest
from ..signals import pre_send
from ..templates.message import BulkSend, build_templated, is_bulk, is_templated
from .copies import build_requests
from .suppression import remove_suppressed_from_all

logger = logging.getLogger("django_ses_query")


@dataclass
class Job:
    """One request on its way: the message the signals see (a copy, for one
    recipient of a message with a topic), its request (None when it failed
    before one was built), its queued row (rows, for a queued bulk request),
    if any, the item it came from (counted once however many copies SES
    accepted), what the jobs of one bulk message share (``group``, see
    ``sending/bulk.py``), ``failure``: an error that fails it before it is
    sent, and ``error``: set by ``Path.record``, the failure to report for
    it (raised unless ``fail_silently``)."""

    message: Any
    request: SendRequest | None = None
    row: Any = None
    done: bool = False
    origin: Any = None
    group: Any = None
    failure: SESError | None = None
    error: SESError | None = None

    @property
    def item(self):
        return self.message if self.origin is None else self.origin


class Path(Protocol):
    """How one kind of item goes through the pipeline."""

    def prepare(self, item) -> list[Job]:
        """The jobs for ``item`` (none: nothing to send); may raise SESError."""

    def unprepared(self, item) -> Job:
        """The job to record when ``prepare`` raised."""

    def record(self, job: Job, response=None, error: SESError | None = None) -> int:
        """Log the outcome and fire ``post_send``; 1 when it makes its item
        count as sent, else 0. Sets ``job.error``."""

    def commit_due(self) -> None:
        """Write rows that waited long enough."""

    def timeout(self) -> float | None:
        """Seconds until waiting rows are due, or None."""


class Pipeline:
    """The send pipeline of one backend (one :class:`Config`).

    ``sender`` is the class the signals are sent with (the backend's).
    """

    def __init__(self, config: Config, *, sender: type) -> None:
        self.config = config
        self.sender = sender
        self.lock = threading.RLock()

    @cached_property
    def client(self):
        """The SES call, made on first use: a backend that only queues (or a
        process that never sends) imports no HTTP and asks for no credentials."""
        from ..client import SESClient
        from ..credentials import provider_for

        return SESClient(self.config, provider_for(self.config))

    def open(self) -> bool:
        """Open the keep-alive HTTP session; True when it is new."""
        with self.lock:
            return self.client.open()

    def close(self) -> None:
        with self.lock:
            self.client.close()

    # The stages.

    def prepare(self, message) -> list[tuple[Any, SendRequest]] | BulkSend | None:
        """``pre_send``, then the request, or one per recipient for a
        message with a topic (``copies``): ``(message or copy, request)``
        pairs; for a stored template with ``merge_data``, a
        :class:`BulkSend` (split into requests once suppression has run).
        None: cancelled by a receiver."""
        try:
            pre_send.send(sender=self.sender, message=message)
        except CancelSend as cancel:
            logger.info("Send cancelled by a pre_send receiver: %s", cancel or "no reason given")
            return None
        except Exception as error:
            # Logged as a failure like any other (see raise_error).
            raise SESPreSendError(error) from None
        if is_templated(message):
            built = build_templated(
                message,
                default_configuration_set=self.config.configuration_set,
                default_tags=self.config.tags,
            )
            return built if isinstance(built, BulkSend) else [(message, built)]
        prepared = build_requests(message, self.config)
        if len(prepared) > 1 or prepared[0][0] is not message:
            message.ses_copies = [one for one, _ in prepared]
        return prepared

    def filter_jobs(self, jobs: list[Job], suppressed) -> list[Job]:
        """Suppression over the jobs of one item (one query for all its
        copies): suppressed recipients leave each envelope (bounces and
        complaints with ``SUPPRESSION`` only, unsubscribes for topic mail
        always); ``suppressed(job)`` records a job nobody is left for; when
        the list could not be read, each job keeps the error, to be
        recorded as its failure."""
        if not jobs:
            return []
        topic = jobs[0].request.topic
        if not self.config.suppression and not topic:
            return jobs
        try:
            keeps = remove_suppressed_from_all(
                [job.request for job in jobs], self.config.log_database, everyone=self.config.suppression
            )
        except SESError as error:
            for job in jobs:
                job.failure = error
            return jobs
        kept = []
        for job, keep in zip(jobs, keeps):
            if keep:
                kept.append(job)
            else:
                suppressed(job)
        return kept

    def drop_suppressed(self, bulk: BulkSend) -> None:
        """Suppression for a bulk send, before it is split into requests
        (bounces and complaints, with ``SUPPRESSION``)."""
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
        in flight finish and are recorded) and is raised. An item sent as
        copies counts once, when SES accepted any of them."""
        items = list(items)
        accepted: set[int] = set()
        # A single message may still be several requests (copies by topic).
        several = len(items) > 1 or (
            len(items) == 1
            and bool(self.config.unsubscribe_topic or getattr(items[0], "unsubscribe_topic", None) or is_bulk(items[0]))
        )
        if self.config.max_concurrency > 1 and several:
            self._run_concurrently(path, items, fail_silently, accepted)
        else:
            self._run_sequentially(path, items, fail_silently, accepted)
        return len(accepted)

    def _run_sequentially(self, path: Path, items: list, fail_silently: bool, accepted: set) -> None:
        for item in items:
            path.commit_due()
            try:
                jobs = path.prepare(item)
            except SESError as error:
                path.record(path.unprepared(item), error=error)
                if not fail_silently:
                    raise_error(error)
                continue
            for job in jobs:
                path.commit_due()
                try:
                    if job.failure is not None:
                        raise job.failure
                    response = self.transmit(job.request)
                except SESError as error:
                    counted = path.record(job, error=error)
                except (KeyboardInterrupt, SystemExit) as interruption:
                    # Stopped after the request was written: SES may have sent it.
                    if getattr(interruption, "ses_outcome_unknown", False):
                        path.record(job, error=SESInterruptedError(interruption))
                    raise
                else:
                    counted = path.record(job, response)
                if counted:
                    accepted.add(id(job.item))
                if job.error is not None and not fail_silently:
                    raise_error(job.error)

    def _run_concurrently(self, path: Path, items: list, fail_silently: bool, accepted: set) -> None:
        first_error: SESError | None = None
        in_flight: dict[Future, Job] = {}
        # Each request's future, as it completes (cheaper than wait() over
        # every future in flight at each completion).
        completed: SimpleQueue[Future] = SimpleQueue()
        pending = iter(items)
        ready: deque[Job] = deque()  # prepared, not yet submitted (copies)
        workers = self.config.max_concurrency
        with ThreadPoolExecutor(workers, thread_name_prefix="django_ses_query") as pool, ExitStack() as stack:
            # If something unexpected (a pre_send receiver's exception...) is
            # on its way out, the sends in flight still get their rows.
            stack.callback(drain, path, in_flight)
            while True:
                # Keep up to `workers` requests in flight until a failure
                # (when not failing silently) stops new sends.
                # A bulk message's remaining requests go even then.
                while len(in_flight) < workers and (first_error is None or (ready and ready[0].group is not None)):
                    if not ready:
                        item = next(pending, None)
                        if item is None:
                            break
                        try:
                            ready.extend(path.prepare(item))
                        except SESError as error:
                            path.record(path.unprepared(item), error=error)
                            if not fail_silently:
                                first_error = error
                        continue
                    job = ready.popleft()
                    if job.failure is not None:
                        path.record(job, error=job.failure)
                        if not fail_silently and first_error is None:
                            first_error = job.failure
                        continue
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
                        counted = path.record(job, error=error)
                    else:
                        counted = path.record(job, response)
                    if counted:
                        accepted.add(id(job.item))
                    if job.error is not None and not fail_silently and first_error is None:
                        first_error = job.error
        if first_error is not None:
            raise_error(first_error)


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
