"""The direct path: ``EmailBackend.send_messages()`` through the pipeline.

Each message gets a new log row; a batch's rows are written in groups
(``logwriter``), and ``post_send`` fires once its row is written. A bulk
templated message gets one row per destination (and ``post_send`` per
row), and ``message.ses_recipients`` says what happened to each recipient.
"""

from __future__ import annotations

import logging
import uuid

from ..exceptions import SESError
from ..templates.message import BulkSend
from ..templates.results import SUPPRESSED, DestinationOutcome, RecipientStatus
from .bulk import BulkMessage, outcomes_of, summary
from .logwriter import LogWriter, insert_rows
from .pipeline import Job, Pipeline
from .sendlog import destination_rows, log_row, write_log

logger = logging.getLogger("django_ses_query")


class DirectPath:
    """The messages of one ``send_messages()`` call (on its thread only)."""

    def __init__(self, pipeline: Pipeline, *, fail_silently: bool) -> None:
        self.pipeline = pipeline
        self.config = pipeline.config
        self.fail_silently = fail_silently
        self.writer = LogWriter(self.config, pipeline.post_send)

    def prepare(self, message) -> list[Job]:
        prepared = self.pipeline.prepare(message)
        if prepared is None:
            return []
        if isinstance(prepared, BulkSend):
            return self.prepare_bulk(message, prepared)
        jobs = [Job(one, request, origin=message) for one, request in prepared]
        return self.pipeline.filter_jobs(jobs, self.suppressed)

    def suppressed(self, job: Job) -> None:
        self.writer.flush()  # the rows before it first, in order
        job.message.ses_log = write_log(self.config, job.message, job.request, status="suppressed")
        if job.item is not job.message and job.origin.ses_log is None:
            job.origin.ses_log = job.message.ses_log

    def prepare_bulk(self, message, bulk: BulkSend) -> list[Job]:
        """Suppression, then one job per request; the suppressed
        destinations get their rows now."""
        self.pipeline.drop_suppressed(bulk)
        if bulk.suppressed:
            self.writer.flush()  # the rows before them first, in order
            request = bulk.request_for(bulk.suppressed)
            rows = destination_rows(
                self.config, message, request, [DestinationOutcome(SUPPRESSED)] * len(bulk.suppressed)
            )
            written = [row for row in rows if row is not None]
            if written:
                written = insert_rows(self.config, written)
            saved = iter(written)
            for destination, row in zip(bulk.suppressed, rows):
                message.ses_recipients[destination.address] = RecipientStatus(
                    SUPPRESSED, log=None if row is None else next(saved)
                )
        requests = bulk.requests()
        if not requests:
            return []
        state = BulkMessage(message, len(requests))
        return [Job(message, request, group=(state, position)) for position, request in enumerate(requests)]

    def unprepared(self, message) -> Job:
        return Job(message)

    def record(self, job: Job, response=None, error: SESError | None = None) -> int:
        if job.group is not None:
            return self.record_bulk(job, response, error)
        message, request = job.message, job.request
        if error is None:
            message.ses_message_id = response.result.message_id
            if job.item is not message and job.origin.ses_message_id is None:
                job.origin.ses_message_id = message.ses_message_id  # its first accepted copy's
            row = log_row(
                self.config, message, request,
                message_id=response.result.message_id, request_id=response.result.request_id,
                attempts=response.attempts, duration_ms=response.duration_ms,
            )
        else:
            row = log_row(
                self.config, message, request,
                attempts=getattr(error, "attempts", 0), duration_ms=getattr(error, "duration_ms", None),
                error=error,
            )
            # An operator should hear of it even when the caller asked for
            # silence; the caller's fail_silently only makes it less loud.
            logger.log(
                logging.WARNING if self.fail_silently else logging.ERROR,
                "Sending %r to %s failed: %s",
                str(message.subject or ""), ", ".join(str(r) for r in message.recipients()), error,
            )
        recipients = []
        if request is not None and request.template_name:
            # Every recipient of a SendTemplatedEmail shares its outcome.
            status = "sent" if error is None else "unknown" if error.may_have_been_sent else "failed"
            for address in request.recipients:
                if address in request.suppressed:
                    message.ses_recipients[address] = RecipientStatus("suppressed")
                    continue
                recipients.append(RecipientStatus(status, message.ses_message_id, error))
                message.ses_recipients[address] = recipients[-1]
        self.writer.add(message, row, error, recipients)
        if job.item is not message and job.origin.ses_log is None:
            job.origin.ses_log = row
        job.done = True
        job.error = error
        return int(error is None)

    def record_bulk(self, job: Job, response, error: SESError | None) -> int:
        """One row per destination of a bulk request, each with its outcome."""
        message, request = job.message, job.request
        state, position = job.group
        outcomes = outcomes_of(request, response, error)
        if error is None:
            request_id, attempts, duration_ms = response.result.request_id, response.attempts, response.duration_ms
        else:
            request_id = error.request_id
            attempts, duration_ms = getattr(error, "attempts", 0), getattr(error, "duration_ms", None)
        rows = destination_rows(
            self.config, message, request, outcomes,
            request_id=request_id, attempts=attempts, duration_ms=duration_ms, bulk_id=uuid.uuid4().hex,
        )
        for destination, outcome, row in zip(request.destinations, outcomes, rows):
            status = RecipientStatus(outcome.status, outcome.message_id, outcome.error)
            message.ses_recipients[destination.address] = status
            self.writer.add(message, row, outcome.error, [status], sets_log=False)
        failures = summary(request, outcomes)
        if failures:
            logger.log(
                logging.WARNING if self.fail_silently else logging.ERROR,
                "SendBulkTemplatedEmail with template %r (request %d of the message) failed for: %s",
                request.template_name, position + 1, failures,
            )
        job.done = True
        counted, job.error = state.finish(position, outcomes)
        return counted

    def commit_due(self) -> None:
        self.writer.flush_if_due()

    def timeout(self) -> float | None:
        return self.writer.timeout()


def send_messages(pipeline: Pipeline, messages, *, fail_silently: bool) -> int:
    """Send ``messages`` (each has recipients); return how many SES accepted.
    Every row is committed before this returns or raises."""
    for message in messages:
        # Stays None for a message not sent (or not attempted, after a
        # failure stopped the batch).
        message.ses_message_id = None
        message.ses_log = None
        message.ses_recipients = {}
    with pipeline.lock:
        new_session = pipeline.open()
        path = DirectPath(pipeline, fail_silently=fail_silently)
        try:
            return pipeline.run(path, messages, fail_silently=fail_silently)
        finally:
            try:
                path.writer.flush()
            finally:
                if new_session:
                    pipeline.close()
