"""The queued path: a queued send log row, claimed by a worker, through the
pipeline.

Trusts the row (written by ``QueuedEmailBackend``, in ``status='sending'``
and claimed by the caller). The request is the row's unsigned body, signed
now, however long it waited. Suppression is checked again at this moment:
an address suppressed while the row waited is taken out of the envelope,
and a row left with nobody is not sent and ends ``suppressed``. The row is
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
import time
from collections.abc import Callable

from django.core.mail import EmailMessage
from django.db import transaction

from ..addresses import bare_address
from ..exceptions import SESError, SESTransportError
from ..params import SendRequest
from ..templates.message import SEND_BULK_TEMPLATED_EMAIL, Destination, join_bulk_bodies
from .bulk import outcomes_of
from .pipeline import Job, Pipeline
from .sendlog import fit_columns

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
    """Claimed rows of one worker. Final rows are written in groups, like
    the direct path's log rows: one transaction per ``LOG_COMMIT_ROWS``
    rows, or sooner once the oldest waits ``LOG_COMMIT_SECONDS``; then
    ``post_send`` fires for each."""

    def __init__(self, pipeline: Pipeline, clock: Callable[[], float] = time.monotonic) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self.statuses: dict[int, str] = {}
        self.pending: list[tuple] = []  # (row, fields, error), not yet written
        self.oldest: float | None = None

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
        self.add(job.row, final_fields(self.pipeline, job.row, suppressed=True), None)
        job.done = True

    def prepare_bulk(self, rows: list) -> Job | None:
        """One ``SendBulkTemplatedEmail`` from the rows of one request."""
        from ..models import normalize_address

        dropped: set[str] = set()
        if self.pipeline.config.suppression:
            from .suppression import suppressed_keys

            first = rows[0]
            dropped = suppressed_keys([*(r.to[0] for r in rows), *first.cc, *first.bcc],
                                      self.pipeline.config.log_database) or set()
        kept = []
        for row in rows:
            if normalize_address(bare_address(row.to[0])) in dropped:
                row.suppressed = [bare_address(row.to[0])]
                self.add(row, final_fields(self.pipeline, row, suppressed=True), None)
            else:
                kept.append(row)
        if not kept:
            return None
        first = kept[0]

        def keeps(address: str) -> bool:
            return normalize_address(bare_address(address)) not in dropped

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
        self.add(job.row, final_fields(self.pipeline, job.row, response=response, error=error), error)
        return int(error is None)

    def record_bulk(self, job: Job, response, error: SESError | None) -> int:
        if job.request is None:  # never became a request
            for row in job.row:
                self.add(row, final_fields(self.pipeline, row, error=error), error)
            return 0
        outcomes = outcomes_of(job.request, response, error)
        for row, outcome in zip(job.row, outcomes):
            if outcome.error is None:
                fields = final_fields(self.pipeline, row, response=response, message_id=outcome.message_id)
            else:
                if response is not None:
                    outcome.error.attempts = response.attempts
                    outcome.error.duration_ms = response.duration_ms
                fields = final_fields(self.pipeline, row, error=outcome.error)
            self.add(row, fields, outcome.error)
        return int(any(outcome.error is None for outcome in outcomes))

    def add(self, row, fields: dict, error: SESError | None) -> None:
        """A final row, written with its group."""
        self.statuses[row.pk] = fields["status"]
        self.pending.append((row, fields, error))
        if self.oldest is None:
            self.oldest = self.clock()
        if len(self.pending) >= self.pipeline.config.log_commit_rows:
            self.flush()

    def commit_due(self) -> None:
        if self.timeout() == 0:
            self.flush()

    def timeout(self) -> float | None:
        if self.oldest is None:
            return None
        return max(0.0, self.oldest + self.pipeline.config.log_commit_seconds - self.clock())

    def flush(self) -> None:
        """Write the final rows waiting in one transaction, then fire their
        ``post_send``. If the group cannot be written, each row is tried on
        its own (see :func:`write_final`)."""
        pending, self.pending, self.oldest = self.pending, [], None
        if not pending:
            return
        database = self.pipeline.config.log_database
        try:
            with transaction.atomic(using=database):
                write_group(self.pipeline, [(row, fields) for row, fields, _ in pending])
        except Exception:
            logger.debug("Could not write %d final rows together; writing them one by one.",
                         len(pending), exc_info=True)
            for row, fields, _ in pending:
                write_final(self.pipeline, row, fields)
        for row, fields, error in pending:
            announce(self.pipeline, row, fields, error)


def send_rows(pipeline: Pipeline, rows: list, path: RowPath | None = None) -> dict[int, str]:
    """Send claimed rows (or the items ``path`` claims as it goes); return
    each row's final status by primary key.

    Whatever escapes the pipeline (a bug, an interruption) leaves every row
    that was handed to it and is not yet final ``unknown``: the request may
    have left."""
    path = path or RowPath(pipeline)
    with pipeline.lock:
        pipeline.open()  # Kept open: the next task reuses the connection.
    try:
        pipeline.run(path, rows, fail_silently=True)
        path.flush()
    except BaseException as error:
        try:
            path.flush()
        except Exception:
            logger.exception("Could not record the queued messages sent before the failure.")
        for row in started_rows(path, rows):
            if row.pk not in path.statuses:
                path.statuses[row.pk] = finish_row(pipeline, row, error=SESTransportError(
                    "The worker failed while sending; the outcome is unknown: "
                    f"{type(error).__name__}: {error}",
                    code="WorkerError", sent=True,
                ))
        raise
    return path.statuses


def started_rows(path: RowPath, items: list) -> list:
    """The rows the pipeline had from ``path`` (for a path that claims as
    it goes, only the rows it claimed and handed on)."""
    rows = getattr(path, "started", None)
    items = list(rows.values()) if rows is not None else items
    return [row for item in items for row in (item if isinstance(item, list) else [item])]


def final_fields(pipeline: Pipeline, row, *, response=None, error: SESError | None = None,
                 suppressed: bool = False, keep_request: bool = False, message_id: str | None = None) -> dict:
    """The fields that make ``row`` final: sent, failed, suppressed, or
    unknown when the request may have reached SES. The stored request is
    dropped unless ``LOG_BODY`` (or ``keep_request``) keeps it."""
    from ..models import EmailLog

    config = pipeline.config
    fields: dict = {
        "request_body": row.request_body if (config.log_body or keep_request) else "",
        "suppressed": row.suppressed,
    }
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
    notes = fit_columns(fields)
    if notes:
        logger.warning(
            "Queued message %s (status=%s) was changed to fit the database: %s.",
            row.pk, fields["status"], "; ".join(notes),
        )
    return fields


def write_group(pipeline: Pipeline, final: list[tuple]) -> None:
    """Write ``(row, fields)`` pairs as :func:`write_final` does, one
    statement per claim (an ``UPDATE`` with a ``CASE`` per field, as
    ``bulk_update`` does, still only where the row is ``sending`` under that
    claim), one per row when rows have no claim token."""
    from django.db.models import Case, F, Value, When

    from ..models import EmailLog

    config = pipeline.config
    by_claim: dict[str, list[tuple]] = {}
    for row, fields in final:
        if row.claim:
            by_claim.setdefault(row.claim, []).append((row, fields))
        else:
            write_final(pipeline, row, fields, report=False)
    for claim, pairs in by_claim.items():
        rows = EmailLog.objects.using(config.log_database).filter(status=EmailLog.Status.SENDING, claim=claim)
        kept, dropped = [], []
        for row, fields in pairs:
            row.ses_kept = keeps(config, fields)
            (kept if row.ses_kept else dropped).append((row, fields))
        if dropped:
            rows.filter(pk__in=[row.pk for row, _ in dropped]).delete()
        if kept:
            updates = {}
            for name in {name for _, fields in kept for name in fields}:
                field = EmailLog._meta.get_field(name)
                whens = [When(pk=row.pk, then=Value(fields[name], output_field=field))
                         for row, fields in kept if name in fields]
                updates[name] = Case(*whens, default=F(name), output_field=field)
            rows.filter(pk__in=[row.pk for row, _ in kept]).update(**updates)
            for row, fields in kept:
                for name, value in fields.items():
                    setattr(row, name, value)


def keeps(config, fields: dict) -> bool:
    """Whether ``LOG`` keeps a row that ends with these fields."""
    return config.log is True or (config.log == "failures" and fields["status"] != "sent")


def write_final(pipeline: Pipeline, row, fields: dict, *, report: bool = True) -> None:
    """Update ``row`` with ``fields`` (or delete it when ``LOG`` does not
    keep it), only while it is still ``sending`` under the claim it was
    sent under: a row recovery made ``unknown`` stays as it is."""
    from ..models import EmailLog

    config = pipeline.config
    rows = EmailLog.objects.using(config.log_database).filter(
        pk=row.pk, status=EmailLog.Status.SENDING, claimed_at=row.claimed_at, claim=row.claim
    )
    try:
        if not keeps(config, fields):
            rows.delete()  # The row was the queue; the log was not asked for.
            row.ses_kept = False
        else:
            rows.update(**fields)
            for name, value in fields.items():
                setattr(row, name, value)
            row.ses_kept = True
    except Exception:
        if report:
            # The row stays "sending": recovery will call it unknown, never resend it.
            logger.exception(
                "Could not record queued message %s as %s (MessageId %s).",
                row.pk, fields["status"], fields.get("message_id") or "-",
            )
        raise


def announce(pipeline: Pipeline, row, fields: dict, error: SESError | None) -> None:
    """``post_send`` for a row made final."""
    message = message_from_row(row)
    message.ses_message_id = fields.get("message_id") or None
    message.ses_log = row if getattr(row, "ses_kept", True) else None
    suppressed = fields["status"] == "suppressed"
    pipeline.post_send(message, message.ses_log, None if suppressed else error)


def finish_row(pipeline: Pipeline, row, *, response=None, error: SESError | None = None,
               suppressed: bool = False, keep_request: bool = False) -> str:
    """Make ``row`` final now (see :func:`final_fields`), then fire
    ``post_send``; return the status."""
    fields = final_fields(pipeline, row, response=response, error=error, suppressed=suppressed,
                          keep_request=keep_request)
    write_final(pipeline, row, fields)
    announce(pipeline, row, fields, None if suppressed else error)
    return fields["status"]
