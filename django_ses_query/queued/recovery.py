"""The queue seen from outside: counts, rows left behind by a lost worker
or a lost task, and resending a failed or unknown message."""

from __future__ import annotations

import datetime
import logging

from django.core.mail import EmailMultiAlternatives
from django.utils import timezone
from django.utils.translation import gettext as _

from ..conf import Config
from ..exceptions import SESTransportError
from ..params import SEND_EMAIL, build_request
from ..sending.rows import finish_row
from .enqueue import enqueue_now, queue, row_fields

logger = logging.getLogger("django_ses_query")

#: error_code of a row whose worker stopped in the middle of the send.
WORKER_LOST = "WorkerLost"


def counts(config: Config) -> dict[str, int]:
    """Rows by status (every status, zero included)."""
    from django.db.models import Count

    from ..models import EmailLog

    found = dict(
        EmailLog.objects.using(config.log_database).order_by().values_list("status")
        .annotate(Count("pk"))
    )
    return {status: found.get(status, 0) for status in EmailLog.Status.values}


def oldest_queued(config: Config):
    from ..models import EmailLog

    return (
        EmailLog.objects.using(config.log_database).filter(status=EmailLog.Status.QUEUED)
        .order_by("created_at", "pk").only("pk", "created_at", "subject").first()
    )


def recover_stale(backend, minutes: float, *, task_kwargs: dict | None = None) -> tuple[list[int], int]:
    """Rows in ``sending`` claimed more than ``minutes`` ago (a killed
    worker) become ``unknown`` (``WorkerLost``), never resent, and keep
    their stored request so that Resend works on them; rows ``queued`` for
    longer (a lost task) are enqueued again, in chunks. Return the ids
    made ``unknown`` and how many rows were enqueued."""
    from ..models import EmailLog

    config = backend.config
    rows = EmailLog.objects.using(config.log_database)
    cutoff = timezone.now() - datetime.timedelta(minutes=minutes)
    lost = []
    for row in rows.filter(status=EmailLog.Status.SENDING, claimed_at__lt=cutoff).order_by("pk").iterator():
        error = SESTransportError(
            f"The worker stopped while sending (claimed at {row.claimed_at:%Y-%m-%d %H:%M:%S %Z}, "
            "no result after "
            f"{minutes:g} minutes); the outcome is unknown and the message is not resent automatically.",
            code=WORKER_LOST, sent=True,
        )
        # Only while the row still has this claim (a late worker may finish it first).
        if rows.filter(pk=row.pk, status=EmailLog.Status.SENDING, claimed_at=row.claimed_at,
                       claim=row.claim).exists():
            finish_row(backend.pipeline, row, error=error, keep_request=True)
            lost.append(row.pk)
    stuck = rows.filter(status=EmailLog.Status.QUEUED, created_at__lt=cutoff).order_by("pk")
    ids = list(stuck.values_list("pk", flat=True))
    requeued = enqueue_now(config, ids, task_kwargs or {}) if ids else 0
    return lost, requeued


def resend_refusal(row) -> str | None:
    """Why ``row`` cannot be resent, or None when it can."""
    from ..models import EmailLog

    if row.status not in (EmailLog.Status.FAILED, EmailLog.Status.UNKNOWN):
        return _("only failed or unknown messages are resent (this one is %(status)s)") % {
            "status": row.get_status_display()
        }
    again = row.resends.order_by("pk").first()
    if again is not None:
        return _("it was resent already (as #%(id)s)") % {"id": again.pk}
    if row.request_body:
        return None
    if row.action == SEND_EMAIL and (row.text_body or row.html_body):
        return None
    if row.action != SEND_EMAIL and (row.text_body or row.html_body):
        return _(
            "its request was not kept, and a raw message (attachments, headers) cannot be "
            "rebuilt from the logged body"
        )
    return _("neither its request nor its body was kept (turn LOG_BODY on to keep them)")


def resend(backend, row):
    """Queue ``row`` again as a new row linked to it (``resent_from``);
    enqueued when the caller's transaction commits. Raises ValueError
    (with the reason) when it cannot be resent."""
    from ..models import EmailLog

    reason = resend_refusal(row)
    if reason:
        raise ValueError(reason)
    config = backend.config
    if row.request_body:
        fields = {
            name: getattr(row, name)
            for name in (
                "action", "from_email", "to", "cc", "bcc", "reply_to", "subject", "size_bytes", "suppressed",
                "configuration_set", "tags", "region", "text_body", "html_body", "request_body", "topic",
                "template_name",
            )
        }
        fields["status"] = EmailLog.Status.QUEUED
    else:
        fields = row_fields(config, _rebuilt_request(row))
    (new,) = queue(config, [EmailLog(resent_from=row, **fields)], backend.task_kwargs)
    if row.request_body and not config.log_body:
        # Kept for this resend only (a row made unknown by recovery): the new row has it now.
        EmailLog.objects.using(config.log_database).filter(pk=row.pk).update(request_body="")
        row.request_body = ""
    return new


def _rebuilt_request(row):
    """A SendEmail request from a row's logged text and HTML bodies."""
    message = EmailMultiAlternatives(
        subject=row.subject, body=row.text_body, from_email=row.from_email,
        to=row.to, cc=row.cc, bcc=row.bcc, reply_to=row.reply_to,
    )
    if row.html_body:
        if row.text_body:
            message.attach_alternative(row.html_body, "text/html")
        else:
            message.body, message.content_subtype = row.html_body, "html"
    return build_request(
        message, default_configuration_set=row.configuration_set or None, default_tags=row.tags,
    )
