"""The queue row and its task.

A queued message is one :class:`~django_ses_query.models.EmailLog` row with
status ``queued`` that holds the unsigned, form-encoded Query request (never
a signature: signatures expire after five minutes, a queue may wait longer).
A task carries row ids only (one row's, or a chunk's: ``TASK_CHUNK_SIZE``),
plus which settings to send with.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import nullcontext
from collections.abc import Iterable
from functools import partial

from django.core.signals import setting_changed
from django.db import connections, transaction
from django.dispatch import receiver

from ..conf import Config, chunk_size
from ..params import SendRequest
from ..sending.sendlog import request_fields

logger = logging.getLogger("django_ses_query")

def row_fields(config: Config, request: SendRequest) -> dict:
    """A queued row's fields: what the direct backend's log row records,
    and the request the worker will sign."""
    from ..models import EmailLog

    return {
        **request_fields(config, request),
        "status": EmailLog.Status.QUEUED,
        "region": config.region or "",
        "request_body": request.body.decode("ascii"),
    }


def bulk_rows(config: Config, bulk) -> list:
    """The unsaved ``queued`` rows of a bulk templated message
    (``templates.message.BulkSend``): one per destination, each holding its
    own one-destination request; the rows of one ``SendBulkTemplatedEmail``
    (up to 50) share a ``bulk_id``. Returns a list of rows per request."""
    from ..models import EmailLog

    chunks = []
    for request in bulk.requests():
        base = row_fields(config, request)
        bulk_id = uuid.uuid4().hex
        rows = []
        for destination in request.destinations:
            single = bulk.request_for([destination])
            fields = dict(base, to=[destination.to], bulk_id=bulk_id, request_body=single.body.decode("ascii"),
                          size_bytes=single.size_bytes)
            if destination.tags is not None:
                fields["tags"] = destination.tags
            if config.log_body:
                fields["template_data"] = destination.template_data
            rows.append(EmailLog(**fields))
        chunks.append(rows)
    return chunks


def queue(config: Config, rows: list, task_kwargs: dict, *, tasks: list | None = None) -> list:
    """Insert the unsaved ``rows`` on ``LOG_DATABASE`` in the caller's
    transaction there (a savepoint if one is open), and enqueue their tasks
    for when it commits; return the rows, saved. ``tasks``: the rows that
    get a task (default: every row; a bulk request's rows share one).

    A task backend that keeps its tasks in that same database
    (django-tasks-db) gets them in the same transaction: rows and tasks
    commit, or roll back, together. Any other backend (RQ, Celery...) gets
    them from ``transaction.on_commit``.
    """
    from ..models import EmailLog

    database = config.log_database
    with transaction.atomic(using=database):
        if connections[database].features.can_return_rows_from_bulk_insert:
            EmailLog.objects.using(database).bulk_create(rows)
        else:
            for row in rows:
                row.save(using=database, force_insert=True)
        ids = [row.pk for row in (rows if tasks is None else tasks)]
        if _tasks_stored_in(config, database):
            _enqueue(config, ids, task_kwargs)
        else:
            transaction.on_commit(partial(enqueue_now, config, ids, task_kwargs), using=database)
    return rows


_stored_in: dict[tuple, bool] = {}


@receiver(setting_changed)
def _forget_task_backends(setting, **kwargs) -> None:
    if setting in ("TASKS", "DATABASES", "DATABASE_ROUTERS"):
        _stored_in.clear()
        _tasks.clear()


def _tasks_stored_in(config: Config, database: str) -> bool:
    """Whether the task backend of ``config`` writes its tasks to
    ``database``. Raises (at send time, not in an on_commit hook) when
    TASK_BACKEND, TASK_QUEUE or TASK_PRIORITY is not valid for it."""
    key = (config.task_backend, config.task_queue, config.task_priority, database)
    if key not in _stored_in:
        backend = task_for(config).get_backend()
        try:
            from django_tasks_db import DatabaseBackend
        except ImportError:
            DatabaseBackend = None
        stored = False
        if DatabaseBackend is not None and isinstance(backend, DatabaseBackend):
            from django.db import router
            from django_tasks_db.models import DBTaskResult

            stored = router.db_for_write(DBTaskResult) == database
        _stored_in[key] = stored
    return _stored_in[key]


_tasks: dict[tuple, object] = {}


def task_for(config: Config, *, chunk: bool = False):
    """``send_queued_email`` (or with ``chunk``, ``send_queued_chunk``) with
    the backend, queue and priority of ``config``."""
    key = (chunk, config.task_backend, config.task_queue, config.task_priority)
    task = _tasks.get(key)
    if task is None:
        from ..tasks import send_queued_chunk, send_queued_email

        changes = {"backend": config.task_backend, "queue_name": config.task_queue}
        if config.task_priority is not None:
            changes["priority"] = config.task_priority
        task = _tasks[key] = (send_queued_chunk if chunk else send_queued_email).using(**changes)
    return task


def chunks(config: Config, row_ids: list[int]) -> list[list[int]]:
    """``row_ids`` in chunks of ``TASK_CHUNK_SIZE`` (see :func:`chunk_size`)."""
    size = chunk_size(config)
    return [row_ids[start:start + size] for start in range(0, len(row_ids), size)]


def enqueue_now(config: Config, row_ids: Iterable[int], task_kwargs: dict) -> int:
    """Enqueue the rows' tasks (one per chunk); return how many rows were enqueued.

    A failure is logged, not raised: the rows were committed, so they stay
    ``queued`` and ``ses_queue --recover-stale`` enqueues them again."""
    row_ids = list(row_ids)
    if not row_ids:
        return 0
    try:
        # One transaction for a batch when the task backend stores its tasks
        # in the same database (django-tasks-db). Not otherwise: an immediate
        # backend runs the task (and its HTTP request) right here.
        database = config.log_database
        batch = transaction.atomic(using=database) if _tasks_stored_in(config, database) else nullcontext()
        with batch:
            _enqueue(config, row_ids, task_kwargs)
    except Exception:
        logger.exception(
            "Could not enqueue the task for %d queued message(s) (rows %s); they stay "
            "queued until `manage.py ses_queue --recover-stale` enqueues them again.",
            len(row_ids), _ids(row_ids),
        )
        return 0
    return len(row_ids)


def _enqueue(config: Config, row_ids: list[int], task_kwargs: dict) -> None:
    """One task per chunk; a chunk of one row is ``send_queued_email(row_id)``."""
    for chunk in chunks(config, row_ids):
        if len(chunk) == 1:
            task_for(config).enqueue(chunk[0], **task_kwargs)
        else:
            task_for(config, chunk=True).enqueue(chunk, **task_kwargs)


def _ids(row_ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in row_ids[:10])
    return shown + (f" and {len(row_ids) - 10} more" if len(row_ids) > 10 else "")
