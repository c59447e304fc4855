"""The queued path: a queued send log row, claimed by a worker, through the
pipeline.

Trusts the row (written by ``QueuedEmailBackend``, in ``status='sending'``
and claimed by the caller). The request is the row's unsigned body, signed
now, however long it waited. Suppression is checked again at this moment
(for the row's topic too): an address suppressed, or unsubscribed, while the
row waited is taken out of the envelope, and a row left with nobody is not
sent and ends ``suppressed``. The row is
updated in place (only while it still holds its claim), then ``post_send``
fires with an ``EmailMessage`` rebuilt from the row (subject, addresses,
and the text body when ``LOG_BODY`` kept it), since the caller's message
object stayed in the caller's process.

The rows of one ``SendBulkTemplatedEmail`` (one per destination, each
holding its own one-destination request) come as one item, a list: a row
whose To address is now suppressed ends ``suppressed``, the others are
joined into one request, and each row gets its own MessageId or error.
"""

from __future__ import annotations

import logging

from django.core.mail import EmailMessage

from ..addresses import bare_address
from ..exceptions import SESError, SESTransportError
from ..params import SendRequest
from ..templates.message import SEND_BULK_TEMPLATED_EMAIL, Destination, join_bulk_bodies
from .bulk import outcomes_of
from .pipeline import Job, Pipeline

logger = logging.getLogger("django_ses_query")


def request_from_row(row) -> SendRequest:
    return SendRequest(
        row.action, {}, row.from_email, row.to, row.cc, row.bcc, row.reply_to, row.subject,
        row.configuration_set or None, row.tags, size_bytes=row.size_bytes or 0,
        body=row.request_body.encode("ascii"), suppressed=list(row.suppressed or []), topic=row.topic,
    )


def message_from_row(row) -> EmailMessage:
    return EmailMessage(
        subject=row.subject, body=row.text_body, from_email=row.from_email,
        to=row.to, cc=row.cc, bcc=row.bcc, reply_to=row.reply_to,
    )


class RowPath:
    """Claimed rows of one worker."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.statuses: dict[int, str] = {}

    def prepare(self, row) -> list[Job]:
        if isinstance(row, list) or row.action == SEND_BULK_TEMPLATED_EMAIL:
            job = self.prepare_bulk(row if isinstance(row, list) else [row])
            return [] if job is None else [job]
        request = request_from_row(row)
        jobs = self.pipeline.filter_jobs([Job(message_from_row(row), request, row)], self.suppressed)
        if jobs and request.suppressed != list(row.suppressed or []):
            row.suppressed = request.suppressed
            row.request_body = request.body.decode("ascii")
            row.size_bytes = request.size_bytes
        return jobs

    def suppressed(self, job: Job) -> None:
        job.row.suppressed = job.request.suppressed
        self.statuses[job.row.pk] = finish_row(self.pipeline, job.row, suppressed=True)
        job.done = True

    def prepare_bulk(self, rows: list) -> Job | None:
        """One ``SendBulkTemplatedEmail`` from the rows of one request."""
        dropped: set[str] = set()
        if self.pipeline.config.suppression:
            from .suppression import suppressed_keys

            first = rows[0]
            dropped = suppressed_keys([*(r.to[0] for r in rows), *first.cc, *first.bcc],
                                      self.pipeline.config.log_database) or set()
        kept = []
        for row in rows:
            if bare_address(row.to[0]).lower() in dropped:
                row.suppressed = [bare_address(row.to[0])]
                self.statuses[row.pk] = finish_row(self.pipeline, row, suppressed=True)
            else:
                kept.append(row)
        if not kept:
            return None
        first = kept[0]

        def keeps(address: str) -> bool:
            return bare_address(address).lower() not in dropped

        cc, bcc = [a for a in first.cc if keeps(a)], [a for a in first.bcc if keeps(a)]
        gone = [bare_address(a) for a in (*first.cc, *first.bcc) if not keeps(a)]
        body = join_bulk_bodies([row.request_body.encode("ascii") for row in kept], keeps)
        request = SendRequest(
            SEND_BULK_TEMPLATED_EMAIL, {}, first.from_email, [r.to[0] for r in kept], cc, bcc, first.reply_to,
            "", first.configuration_set or None, first.tags, size_bytes=len(body), body=body, suppressed=gone,
            template_name=first.template_name,
            destinations=[Destination(r.to[0], bare_address(r.to[0]), r.template_data, "", r.tags) for r in kept],
        )
        for row in kept:
            row.suppressed = list(gone)
        return Job(message_from_row(first), request, kept)

    def unprepared(self, row) -> Job:
        return Job(message_from_row(row[0] if isinstance(row, list) else row), None, row)

    def record(self, job: Job, response=None, error: SESError | None = None) -> int:
        job.done = True
        job.error = error
        if isinstance(job.row, list):
            return self.record_bulk(job, response, error)
        self.statuses[job.row.pk] = finish_row(self.pipeline, job.row, response=response, error=error)
        return int(error is None)

    def record_bulk(self, job: Job, response, error: SESError | None) -> int:
        if job.request is None:  # never became a request
            for row in job.row:
                self.statuses[row.pk] = finish_row(self.pipeline, row, error=error)
            return 0
        outcomes = outcomes_of(job.request, response, error)
        for row, outcome in zip(job.row, outcomes):
            if outcome.error is None:
                self.statuses[row.pk] = finish_row(self.pipeline, row, response=response,
                                                   message_id=outcome.message_id)
            else:
                if response is not None:
                    outcome.error.attempts = response.attempts
                    outcome.error.duration_ms = response.duration_ms
                self.statuses[row.pk] = finish_row(self.pipeline, row, error=outcome.error)
        return int(any(outcome.error is None for outcome in outcomes))

    def commit_due(self) -> None:
        pass

    def timeout(self) -> float | None:
        return None


def send_rows(pipeline: Pipeline, rows: list) -> dict[int, str]:
    """Send claimed rows; return each row's final status by primary key.

    Whatever escapes the pipeline (a bug, an interruption) leaves every row
    not yet final ``unknown``: the request may have left."""
    path = RowPath(pipeline)
    with pipeline.lock:
        pipeline.open()  # Kept open: the next task reuses the connection.
    try:
        pipeline.run(path, rows, fail_silently=True)
    except BaseException as error:
        for row in (row for item in rows for row in (item if isinstance(item, list) else [item])):
            if row.pk not in path.statuses:
                path.statuses[row.pk] = finish_row(pipeline, row, error=SESTransportError(
                    "The worker failed while sending; the outcome is unknown: "
                    f"{type(error).__name__}: {error}",
                    code="WorkerError", sent=True,
                ))
        raise
    return path.statuses


def finish_row(pipeline: Pipeline, row, *, response=None, error: SESError | None = None,
               suppressed: bool = False, message_id: str | None = None) -> str:
    """Make ``row`` final (sent, failed, suppressed, or unknown when the
    request may have reached SES), then fire ``post_send``; return the status."""
    from ..models import EmailLog

    config = pipeline.config
    fields: dict = {"request_body": row.request_body if config.log_body else "", "suppressed": row.suppressed}
    if suppressed:
        fields.update(status=EmailLog.Status.SUPPRESSED)
        logger.info("Queued message %s is not sent: every recipient is suppressed.", row.pk)
    elif error is None:
        fields.update(
            status=EmailLog.Status.SENT,
            message_id=message_id or response.result.message_id or "",
            request_id=response.result.request_id or "",
            attempts=response.attempts,
            duration_ms=response.duration_ms,
        )
    else:
        unknown = error.may_have_been_sent
        fields.update(
            status=EmailLog.Status.UNKNOWN if unknown else EmailLog.Status.FAILED,
            error_code=error.code or "",
            error_message=error.message or str(error),
            http_status=error.http_status,
            request_id=error.request_id or "",
            attempts=getattr(error, "attempts", 0),
            duration_ms=getattr(error, "duration_ms", None),
        )
        logger.error(
            "Sending queued message %s (%r to %s) %s: %s", row.pk, row.subject, ", ".join(row.recipients),
            "has an unknown outcome; it is not resent automatically" if unknown else "failed", error,
        )
    rows = EmailLog.objects.using(config.log_database).filter(pk=row.pk, claimed_at=row.claimed_at)
    keep = config.log is True or (config.log == "failures" and fields["status"] != EmailLog.Status.SENT)
    try:
        if not keep:
            rows.delete()  # The row was the queue; the log was not asked for.
            log = None
        else:
            rows.update(**fields)
            for name, value in fields.items():
                setattr(row, name, value)
            log = row
    except Exception:
        # The row stays "sending": recovery will call it unknown, never resend it.
        logger.exception(
            "Could not record queued message %s as %s (MessageId %s).",
            row.pk, fields["status"], fields.get("message_id") or "-",
        )
        raise
    message = message_from_row(row)
    message.ses_message_id = fields.get("message_id") or None
    message.ses_log = log
    pipeline.post_send(message, log, None if suppressed else error)
    return fields["status"]
