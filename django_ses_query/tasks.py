"""The tasks behind :class:`~django_ses_query.queued.backend.QueuedEmailBackend`,
at the paths task queues store: ``django_ses_query.tasks.send_queued_email`` and
``send_queued_chunk``.
Part of the queue (``queued/``): ``queued/enqueue.py`` enqueues it, and it
runs ``queued/worker.py``.

``send_queued_email`` takes one send log row's id, ``send_queued_chunk``
a list of them (a chunk of ``TASK_CHUNK_SIZE`` rows); ``mailer`` (a
``MAILERS`` alias) or ``options`` (the backend's non-secret options) say
which settings the worker sends with. Importing this module imports the
tasks framework: only enqueueing and the workers do.
"""

from __future__ import annotations

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the django-tasks backport.
    from django_tasks import task

from .conf import settings_dict
from .queued.worker import send_chunk, send_row

DEFAULT_TASK_BACKEND = "default"


def decorator_backend() -> str:
    """The task backend ``@task`` is declared with (each enqueue picks its
    own with ``using()``): ``SES_QUERY["TASK_BACKEND"]``, else "default"."""
    value = settings_dict().get("TASK_BACKEND")
    return value if isinstance(value, str) and value else DEFAULT_TASK_BACKEND


@task(backend=decorator_backend())
def send_queued_email(row_id: int, mailer: str | None = None, options: dict | None = None) -> str:
    """Send the queued row ``row_id``; return its final status ("" when the
    row was not queued any more: a duplicate or redelivered task)."""
    return send_row(row_id, mailer=mailer, options=options)


@task(backend=decorator_backend())
def send_queued_chunk(row_ids: list[int], mailer: str | None = None, options: dict | None = None) -> dict:
    """Send the rows of ``row_ids`` still queued, ``MAX_CONCURRENCY`` at a
    time; return the final status of each row this task sent, by id (JSON:
    the ids as strings). Rows another task has are skipped."""
    def requeue(config, left: list[int]) -> None:
        # The rows not reached within the chunk's time budget: a new task, as enqueued first.
        changes = {"backend": config.task_backend, "queue_name": config.task_queue}
        if config.task_priority is not None:
            changes["priority"] = config.task_priority
        send_queued_chunk.using(**changes).enqueue(left, mailer=mailer, options=options)

    statuses = send_chunk(row_ids, mailer=mailer, options=options, requeue=requeue)
    return {str(row_id): status for row_id, status in statuses.items()}
