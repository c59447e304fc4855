"""The direct path: ``EmailBackend.send_messages()`` through the pipeline.

Each message gets a new log row; a batch's rows are written in groups
(``logwriter``), and ``post_send`` fires once its row is written.
"""

from __future__ import annotations

import logging

from ..exceptions import SESError
from .logwriter import LogWriter
from .pipeline import Job, Pipeline
from .sendlog import log_row, write_log

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
        jobs = [Job(one, request, origin=message) for one, request in prepared]
        return self.pipeline.filter_jobs(jobs, self.suppressed)

    def suppressed(self, job: Job) -> None:
        self.writer.flush()  # the rows before it first, in order
        job.message.ses_log = write_log(self.config, job.message, job.request, status="suppressed")
        if job.item is not job.message and job.origin.ses_log is None:
            job.origin.ses_log = job.message.ses_log

    def unprepared(self, message) -> Job:
        return Job(message)

    def record(self, job: Job, response=None, error: SESError | None = None) -> bool:
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
        self.writer.add(message, row, error)
        if job.item is not message and job.origin.ses_log is None:
            job.origin.ses_log = row
        job.done = True
        return error is None

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
