"""The queued email backend: ``send_messages()`` never touches the network."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ..addresses import bare_address
from ..conf import OPTION_NAMES, SECRET_OPTIONS
from ..exceptions import SESError
from ..sending.backend import EmailBackend
from ..sending.direct import DirectPath
from ..sending.pipeline import Job, raise_error
from ..sending.sendlog import write_log
from ..templates.message import BulkSend
from ..templates.results import RecipientStatus
from .enqueue import bulk_rows, queue, row_fields

logger = logging.getLogger("django_ses_query")


class QueuedEmailBackend(EmailBackend):
    """Validates and builds each request now, writes it as a ``queued`` send
    log row in the caller's transaction, and enqueues a task per row once
    that commits. A worker signs and sends it (see ``queued/worker.py``).

    Options are :class:`~django_ses_query.backend.EmailBackend`'s. The worker
    finds them again by the ``MAILERS`` alias, or gets the non-secret ones in
    the task: a secret given as an option outside ``MAILERS`` is refused,
    since it would be stored in the task queue.
    """

    def __init__(self, fail_silently: bool = False, *, alias: str | None = None, **kwargs: Any):
        options = {name: value for name, value in kwargs.items() if name in OPTION_NAMES}
        super().__init__(fail_silently, alias=alias, **kwargs)
        if self.alias is not None:
            self.task_kwargs: dict[str, Any] = {"mailer": self.alias}
        else:
            secrets = sorted(name.upper() for name in options if name in SECRET_OPTIONS)
            if secrets:
                raise ImproperlyConfigured(
                    f"QueuedEmailBackend cannot pass {', '.join(secrets)} to its workers: the task "
                    "would store it. Set it in SES_QUERY (or a MAILERS entry's OPTIONS) instead."
                )
            self.task_kwargs = {"options": options} if options else {}

    def open(self) -> bool:
        return False  # Nothing to connect to: the workers send.

    def close(self) -> None:
        pass

    def send_messages(self, email_messages) -> int:
        """Queue the messages; return how many were queued.

        A bulk templated message is one row per destination and one task
        per ``SendBulkTemplatedEmail`` (50 destinations); it counts once.
        Validation errors raise (or are logged, with ``fail_silently``) as
        with the direct backend, after the messages before them were queued.
        """
        messages = [m for m in email_messages if m.recipients()]
        if not messages:
            return 0
        from ..models import EmailLog

        queued = []
        tasks = []  # the rows that get a task
        counted: set[int] = set()
        first_error: SESError | None = None
        for message in messages:
            message.ses_message_id = None
            message.ses_log = None
            message.ses_recipients = {}
            if first_error is not None:
                continue  # Not attempted, as with the direct backend.
            try:
                prepared, copy_error = self.prepare(message)
            except SESError as error:
                failed = DirectPath(self.pipeline, fail_silently=self.fail_silently)
                failed.record(failed.unprepared(message), error=error)
                failed.writer.flush()
                if not self.fail_silently:
                    first_error = error
                continue
            if isinstance(prepared, BulkSend):
                chunks = bulk_rows(self.config, prepared)
                for rows in chunks:
                    queued.extend((message, message, row) for row in rows)
                    tasks.append(rows[0])
                if chunks:
                    counted.add(id(message))
                continue
            for one, request in prepared:
                row = EmailLog(**row_fields(self.config, request))
                queued.append((message, one, row))
                tasks.append(row)
                counted.add(id(message))
            if copy_error is not None and not self.fail_silently:
                first_error = copy_error
        if queued:
            queue(self.config, [row for _, _, row in queued], self.task_kwargs, tasks=tasks)
            for message, one, row in queued:
                if row.bulk_id:
                    message.ses_recipients[bare_address(row.to[0])] = RecipientStatus(
                        EmailLog.Status.QUEUED, log=row
                    )
                    continue
                one.ses_log = row
                if message is not one and message.ses_log is None:
                    message.ses_log = row  # its first copy's
        if first_error is not None:
            raise_error(first_error)
        return len(counted)

    def prepare(self, message) -> tuple[list | BulkSend, SESError | None]:
        """``pre_send``, the request (one per recipient for a message with a
        topic; a :class:`BulkSend` for a stored template with
        ``merge_data``), and suppression as an early exit (the worker checks
        again when it sends): what to queue, and the first error of a copy
        not queued (its row is ``failed``: the suppression list could not be
        read)."""
        prepared = self.pipeline.prepare(message)
        if prepared is None:
            return [], None
        if isinstance(prepared, BulkSend):
            self.pipeline.drop_suppressed(prepared)
            for destination in prepared.suppressed:
                log = write_log(self.config, message, prepared.request_for([destination]), status="suppressed")
                message.ses_recipients[destination.address] = RecipientStatus("suppressed", log=log)
            return prepared, None
        jobs = [Job(one, request, origin=message) for one, request in prepared]
        kept, first_error = [], None
        for job in self.pipeline.filter_jobs(jobs, self.suppressed):
            if job.failure is None:
                kept.append((job.message, job.request))
                continue
            failed = DirectPath(self.pipeline, fail_silently=self.fail_silently)
            failed.record(job, error=job.failure)
            failed.writer.flush()
            first_error = first_error or job.failure
        return kept, first_error

    def suppressed(self, job) -> None:
        job.message.ses_log = write_log(self.config, job.message, job.request, status="suppressed")
        if job.origin is not job.message and job.origin.ses_log is None:
            job.origin.ses_log = job.message.ses_log
