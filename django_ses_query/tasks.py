"""The task behind :class:`~django_ses_query.queued.backend.QueuedEmailBackend`.

Its only argument that matters is the send log row's id; ``mailer`` (a
``MAILERS`` alias) or ``options`` (the backend's non-secret options) say
which settings the worker sends with. Importing this module imports the
tasks framework: only the queued backend and workers do.
"""

from __future__ import annotations

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the django-tasks backport.
    from django_tasks import task

from .queued.enqueue import decorator_backend


@task(backend=decorator_backend())
def send_queued_email(row_id: int, mailer: str | None = None, options: dict | None = None) -> str:
    """Send the queued row ``row_id``; return its final status ("" when the
    row was not queued any more: a duplicate or redelivered task)."""
    from .queued.worker import send_row

    return send_row(row_id, mailer=mailer, options=options)
