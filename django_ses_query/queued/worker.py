"""What ``send_queued_email`` does with one row, in the worker.

Trusts the send log row (written by :class:`QueuedEmailBackend`); checks
that it is still ``queued`` and claims it with one conditional UPDATE, so a
redelivered or duplicated task does nothing. The rows of one
``SendBulkTemplatedEmail`` share a ``bulk_id`` and one task: the UPDATE
claims those still queued, and they go as one request. The claimed row then goes
through the send pipeline (``sending/rows.py``): suppression checked again,
signed now, sent, the row made final, ``post_send``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from django.core.signals import setting_changed
from django.dispatch import receiver

from ..sending.pipeline import Pipeline
from ..sending.rows import send_rows
from .claims import ClaimingPath

logger = logging.getLogger("django_ses_query")

#: The queued backend, by the path settings name it with.
QUEUED_BACKEND = "django_ses_query.backend.QueuedEmailBackend"

_pipelines: dict[tuple, Pipeline] = {}
_pipelines_lock = threading.Lock()


@receiver(setting_changed)
def _forget_pipelines(setting, **kwargs) -> None:
    if setting in ("SES_QUERY", "MAILERS"):
        with _pipelines_lock:
            _pipelines.clear()


def worker_pipeline(mailer: str | None = None, options: dict | None = None) -> Pipeline:
    """The process's pipeline for these settings (a ``MAILERS`` alias, or
    the queued backend's options), its HTTP session kept open from one task
    to the next."""
    key = (mailer, json.dumps(options or {}, sort_keys=True))
    with _pipelines_lock:
        pipeline = _pipelines.get(key)
        if pipeline is None:
            if mailer is not None:
                from django.core.mail import mailers

                pipeline = getattr(mailers[mailer], "pipeline", None)
                if not isinstance(pipeline, Pipeline):
                    raise TypeError(f"MAILERS[{mailer!r}] is not a django_ses_query backend.")
            else:
                # Loaded by its path, as EMAIL_BACKEND names it: the backend
                # that queued the row, with the same options.
                from django.utils.module_loading import import_string

                pipeline = import_string(QUEUED_BACKEND)(**(options or {})).pipeline
            _pipelines[key] = pipeline
    return pipeline


def send_row(row_id: int, *, mailer: str | None = None, options: dict | None = None) -> str:
    """Claim, sign, send and record row ``row_id``; return its final status,
    or "" when it was not ``queued`` (already claimed, final, or deleted)."""
    statuses = send_chunk([row_id], mailer=mailer, options=options)
    if not statuses:
        logger.info("Queued message %s is not queued any more: nothing to do.", row_id)
    return statuses.get(row_id, "")


def send_chunk(row_ids: list[int], *, mailer: str | None = None, options: dict | None = None,
               budget: float | None = None, requeue: Callable | None = None) -> dict[int, str]:
    """Send the rows of ``row_ids`` that are still ``queued``, claiming
    each as a slot of ``MAX_CONCURRENCY`` frees up; return the final status
    of each row sent, by id. Rows not reached within ``budget`` seconds and
    still ``queued`` go to ``requeue(config, row_ids)`` (a new task)."""
    pipeline = worker_pipeline(mailer, options)
    path = ClaimingPath(pipeline, [int(row_id) for row_id in row_ids], budget=budget)
    try:
        statuses = send_rows(pipeline, path.row_ids, path)
    finally:
        try:
            path.release()
        except Exception:
            logger.exception("Could not put claimed rows back in the queue; recovery will find them.")
    if path.left:
        left = still_queued(pipeline.config, path.left)
        logger.info("The chunk's time is up: %d queued message(s) get a new task.", len(left))
        if left and requeue is not None:
            try:
                requeue(pipeline.config, left)
            except Exception:
                logger.exception(
                    "Could not enqueue a task for queued messages %s; they stay queued until "
                    "`manage.py ses_queue --recover-stale` enqueues them again.", left,
                )
    return statuses


def still_queued(config, row_ids: list[int]) -> list[int]:
    from ..models import EmailLog

    return list(
        EmailLog.objects.using(config.log_database)
        .filter(pk__in=row_ids, status=EmailLog.Status.QUEUED).order_by("pk").values_list("pk", flat=True)
    )
