"""The task behind :class:`~django_ses_query.queued.backend.QueuedEmailBackend`,
at the path task queues store: ``django_ses_query.tasks.send_queued_email``.
Part of the queue (``queued/``): ``queued/enqueue.py`` enqueues it, and it
runs ``queued/worker.py``.

Its only argument that matters is the send log row's id; ``mailer`` (a
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
from .queued.worker import send_row

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
