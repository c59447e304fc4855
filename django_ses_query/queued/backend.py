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
from ..sending.pipeline import raise_error
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
        count = 0
        first_error: SESError | None = None
        for message in messages:
            message.ses_message_id = None
            message.ses_log = None
            message.ses_recipients = {}
            if first_error is not None:
                continue  # Not attempted, as with the direct backend.
            try:
                request = self.prepare(message)
            except SESError as error:
                failed = DirectPath(self.pipeline, fail_silently=self.fail_silently)
                failed.record(failed.unprepared(message), error=error)
                failed.writer.flush()
                if not self.fail_silently:
                    first_error = error
                continue
            if isinstance(request, BulkSend):
                chunks = bulk_rows(self.config, request)
                for rows in chunks:
                    queued.extend((message, row) for row in rows)
                    tasks.append(rows[0])
                count += bool(chunks)
            elif request is not None:
                row = EmailLog(**row_fields(self.config, request))
                queued.append((message, row))
                tasks.append(row)
                count += 1
        if queued:
            queue(self.config, [row for _, row in queued], self.task_kwargs, tasks=tasks)
            for message, row in queued:
                if row.bulk_id:
                    message.ses_recipients[bare_address(row.to[0])] = RecipientStatus(
                        EmailLog.Status.QUEUED, log=row
                    )
                else:
                    message.ses_log = row
        if first_error is not None:
            raise_error(first_error)
        return count

    def prepare(self, message):
        """``pre_send``, the request, and suppression as an early exit (the
        worker checks again when it sends). None: nothing to queue."""
        request = self.pipeline.prepare(message)
        if isinstance(request, BulkSend):
            self.pipeline.drop_suppressed(request)
            for destination in request.suppressed:
                log = write_log(self.config, message, request.request_for([destination]), status="suppressed")
                message.ses_recipients[destination.address] = RecipientStatus("suppressed", log=log)
            return request
        if request is None or self.pipeline.keeps_recipients(request):
            return request
        message.ses_log = write_log(self.config, message, request, status="suppressed")
        return None
