"""The queue row and its task.

A queued message is one :class:`~django_ses_query.models.EmailLog` row with
status ``queued`` that holds the unsigned, form-encoded Query request (never
a signature: signatures expire after five minutes, a queue may wait longer).
The task carries the row's id only, plus which settings to send with.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

from django.db import connections, transaction

from ..conf import Config, settings_dict
from ..params import SendRequest

logger = logging.getLogger("django_ses_query")

DEFAULT_TASK_BACKEND = "default"


def decorator_backend() -> str:
    """The task backend ``@task`` is declared with (each enqueue picks its
    own with ``using()``): ``SES_QUERY["TASK_BACKEND"]``, else "default"."""
    value = settings_dict().get("TASK_BACKEND")
    return value if isinstance(value, str) and value else DEFAULT_TASK_BACKEND


def row_fields(config: Config, request: SendRequest) -> dict:
    """A queued row's fields: what the direct backend's log row records,
    and the request the worker will sign."""
    from ..models import EmailLog

    fields = dict(
        status=EmailLog.Status.QUEUED,
        action=request.action,
        from_email=request.from_email,
        to=request.to,
        cc=request.cc,
        bcc=request.bcc,
        reply_to=request.reply_to,
        subject=request.subject,
        size_bytes=request.size_bytes,
        configuration_set=request.configuration_set or "",
        tags=request.tags,
        region=config.region or "",
        request_body=request.body.decode("ascii"),
    )
    if config.log_body:
        fields.update(text_body=request.text_body or "", html_body=request.html_body or "")
    return fields


def write_rows(config: Config, rows: list) -> list:
    """Insert the unsaved ``rows`` on ``LOG_DATABASE``, in the caller's
    transaction there (a savepoint if one is open); return them saved."""
    from ..models import EmailLog

    database = config.log_database
    with transaction.atomic(using=database):
        if len(rows) > 1 and connections[database].features.can_return_rows_from_bulk_insert:
            return EmailLog.objects.using(database).bulk_create(rows)
        for row in rows:
            row.save(using=database, force_insert=True)
    return rows


def task_for(config: Config):
    """``send_queued_email`` with the backend, queue and priority of ``config``."""
    from ..tasks import send_queued_email

    changes = {"backend": config.task_backend, "queue_name": config.task_queue}
    if config.task_priority is not None:
        changes["priority"] = config.task_priority
    return send_queued_email.using(**changes)


def enqueue_on_commit(config: Config, row_ids: list[int], task_kwargs: dict) -> None:
    """Enqueue the tasks once the caller's transaction on ``LOG_DATABASE``
    commits (at once outside a transaction); nothing on a rollback."""
    transaction.on_commit(
        partial(enqueue_now, config, row_ids, task_kwargs), using=config.log_database
    )


def enqueue_now(config: Config, row_ids: Iterable[int], task_kwargs: dict) -> int:
    """Enqueue one task per row; return how many were enqueued.

    A failure is logged, not raised: the rows were committed, so they stay
    ``queued`` and ``ses_queue --recover-stale`` enqueues them again."""
    row_ids = list(row_ids)
    if not row_ids:
        return 0
    try:
        send = task_for(config)
        # One transaction for a batch when the task backend stores its
        # tasks in the same database (django-tasks-db); harmless otherwise.
        with transaction.atomic(using=config.log_database):
            for row_id in row_ids:
                send.enqueue(row_id, **task_kwargs)
    except Exception:
        logger.exception(
            "Could not enqueue the task for %d queued message(s) (rows %s); they stay "
            "queued until `manage.py ses_queue --recover-stale` enqueues them again.",
            len(row_ids), _ids(row_ids),
        )
        return 0
    return len(row_ids)


def _ids(row_ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in row_ids[:10])
    return shown + (f" and {len(row_ids) - 10} more" if len(row_ids) > 10 else "")
