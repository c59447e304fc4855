"""What ``send_queued_email`` does with one row, in the worker.

Trusts the send log row (written by :class:`QueuedEmailBackend`); checks
that it is still ``queued`` and claims it with one conditional UPDATE, so a
redelivered or duplicated task does nothing.

``post_send`` fires here once the row is final. Its ``message`` is an
``EmailMessage`` rebuilt from the row (subject, addresses, and the text body
when ``LOG_BODY`` kept it; no attachments or headers), with ``ses_message_id``
and ``ses_log`` set, since the caller's message object stays in the caller's
process.
"""

from __future__ import annotations

import json
import logging
import threading

from django.core.mail import EmailMessage
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone

from ..exceptions import SESError, SESTransportError
from ..params import SendRequest
from ..signals import post_send

logger = logging.getLogger("django_ses_query")

_backends: dict[tuple, object] = {}
_backends_lock = threading.Lock()


@receiver(setting_changed)
def _forget_backends(setting, **kwargs) -> None:
    if setting in ("SES_QUERY", "MAILERS"):
        with _backends_lock:
            _backends.clear()


def worker_backend(mailer: str | None = None, options: dict | None = None):
    """The process's backend for these settings, its HTTP session kept open
    from one task to the next."""
    key = (mailer, json.dumps(options or {}, sort_keys=True))
    with _backends_lock:
        backend = _backends.get(key)
        if backend is None:
            from ..backend import EmailBackend
            from .backend import QueuedEmailBackend

            if mailer is not None:
                from django.core.mail import mailers

                backend = mailers[mailer]
                if not isinstance(backend, EmailBackend):
                    raise TypeError(f"MAILERS[{mailer!r}] is not a django_ses_query backend.")
            else:
                backend = QueuedEmailBackend(**(options or {}))
            _backends[key] = backend
    return backend


def send_row(row_id: int, *, mailer: str | None = None, options: dict | None = None) -> str:
    """Claim, sign, send and record row ``row_id``; return its final status,
    or "" when it was not ``queued`` (already claimed, final, or deleted)."""
    from ..models import EmailLog

    backend = worker_backend(mailer, options)
    config = backend.config
    rows = EmailLog.objects.using(config.log_database)
    claimed_at = timezone.now()
    if not rows.filter(pk=row_id, status=EmailLog.Status.QUEUED).update(
        status=EmailLog.Status.SENDING, claimed_at=claimed_at
    ):
        logger.info("Queued message %s is not queued any more: nothing to do.", row_id)
        return ""
    row = rows.get(pk=row_id)
    request = SendRequest(
        row.action, {}, row.from_email, row.to, row.cc, row.bcc, row.reply_to, row.subject,
        row.configuration_set or None, row.tags, size_bytes=row.size_bytes or 0,
        body=row.request_body.encode("ascii"),
    )
    with backend._lock:
        backend.client.open()  # Kept open: the next task reuses the connection.
    try:
        response = backend._transmit(request)  # Signed now, however long it waited.
    except SESError as error:
        return finish(backend, row, error=error)
    except BaseException as error:
        # A bug or an interruption: the request may have left.
        finish(backend, row, error=SESTransportError(
            f"The worker failed while sending; the outcome is unknown: {type(error).__name__}: {error}",
            code="WorkerError", sent=True,
        ))
        raise
    return finish(backend, row, response=response)


def finish(backend, row, *, response=None, error: SESError | None = None) -> str:
    """Make ``row`` final (sent, failed, or unknown when the request may
    have reached SES), then fire ``post_send``; return the status."""
    from ..models import EmailLog

    config = backend.config
    fields: dict = {"request_body": row.request_body if config.log_body else ""}
    if error is None:
        fields.update(
            status=EmailLog.Status.SENT,
            message_id=response.result.message_id or "",
            request_id=response.result.request_id or "",
            attempts=response.attempts,
            duration_ms=response.duration_ms,
        )
    else:
        unknown = isinstance(error, SESTransportError) and error.sent
        fields.update(
            status=EmailLog.Status.UNKNOWN if unknown else EmailLog.Status.FAILED,
            error_code=error.code or "",
            error_message=error.message or str(error),
            http_status=error.http_status,
            request_id=error.request_id or "",
            attempts=getattr(error, "attempts", 0),
            duration_ms=getattr(error, "duration_ms", None),
        )
        logger.error(
            "Sending queued message %s (%r to %s) %s: %s", row.pk, row.subject, ", ".join(row.recipients),
            "has an unknown outcome; it is not resent automatically" if unknown else "failed", error,
        )
    rows = EmailLog.objects.using(config.log_database).filter(pk=row.pk, claimed_at=row.claimed_at)
    try:
        if config.log is False or (config.log == "failures" and error is None):
            rows.delete()  # The row was the queue; the log was not asked for.
            log = None
        else:
            rows.update(**fields)
            for name, value in fields.items():
                setattr(row, name, value)
            log = row
    except Exception:
        # The row stays "sending": recovery will call it unknown, never resend it.
        logger.exception(
            "Could not record queued message %s as %s (MessageId %s).",
            row.pk, fields["status"], fields.get("message_id") or "-",
        )
        raise
    announce(backend, row, log, error, message_id=fields.get("message_id"))
    return fields["status"]


def announce(backend, row, log, error, *, message_id=None) -> None:
    """``post_send`` for a queued message, with a message rebuilt from its row."""
    message = EmailMessage(
        subject=row.subject, body=row.text_body, from_email=row.from_email,
        to=row.to, cc=row.cc, bcc=row.bcc, reply_to=row.reply_to,
    )
    message.ses_message_id = message_id or None
    message.ses_log = log
    try:
        post_send.send(sender=type(backend), message=message, log=log, error=error)
    except Exception:
        logger.exception("A post_send receiver failed.")
