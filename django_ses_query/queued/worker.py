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

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone

from ..sending.pipeline import Pipeline
from ..sending.rows import send_rows

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
    from ..models import EmailLog

    pipeline = worker_pipeline(mailer, options)
    rows = EmailLog.objects.using(pipeline.config.log_database)
    claimed_at = timezone.now()
    bulk_id = rows.filter(pk=row_id).values_list("bulk_id", flat=True).first()
    claim = rows.filter(bulk_id=bulk_id) if bulk_id else rows.filter(pk=row_id)
    if not claim.filter(status=EmailLog.Status.QUEUED).update(
        status=EmailLog.Status.SENDING, claimed_at=claimed_at
    ):
        logger.info("Queued message %s is not queued any more: nothing to do.", row_id)
        return ""
    if not bulk_id:
        row = rows.get(pk=row_id)
        return send_rows(pipeline, [row])[row.pk]
    claimed = list(claim.filter(status=EmailLog.Status.SENDING, claimed_at=claimed_at).order_by("pk"))
    statuses = send_rows(pipeline, [claimed])
    return statuses.get(row_id) or statuses[claimed[0].pk]
