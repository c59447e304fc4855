"""Log row: one :class:`~django_ses_query.models.EmailLog` per attempted message.

Writing the log never turns a sent email into a failure: if the write fails,
the problem (with the MessageId) goes to the ``django_ses_query`` logger.
:mod:`~django_ses_query.sending.logwriter` writes a batch's rows in groups.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from django.db import transaction

from ..conf import Config
from ..exceptions import SESError
from ..params import SendRequest
from ..storable import fit_fields

logger = logging.getLogger("django_ses_query")


def _message_fields(message) -> dict:
    """What can be recorded of a message that never became a request."""

    def texts(values):
        return [str(v) for v in values or () if v]

    return {
        "from_email": str(message.from_email or ""),
        "to": texts(message.to),
        "cc": texts(message.cc),
        "bcc": texts(message.bcc),
        "reply_to": texts(message.reply_to),
        "subject": str(message.subject or ""),
    }


def fit_columns(fields: dict) -> list[str]:
    """Make ``fields`` storable on every database, in place (see
    :func:`~django_ses_query.storable.fit_fields`). Returns what was
    changed, to be said (never silently)."""
    from ..models import EmailLog

    return fit_fields(EmailLog, fields)


def write_log(config: Config, message, request: SendRequest | None, **outcome):
    """Write the row for one message; return it, or None (logging off, or
    the write failed and was reported)."""
    row = log_row(config, message, request, **outcome)
    return None if row is None else save_row(config, row)


def request_fields(config: Config, request: SendRequest) -> dict:
    """What a log row records of a request (a queued row too)."""
    fields = dict(
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
        suppressed=request.suppressed,
        topic=request.topic,
    )
    if config.log_body:
        fields.update(text_body=request.text_body or "", html_body=request.html_body or "")
    if request.template_name:
        fields["template_name"] = request.template_name
        if config.log_body and request.template_data is not None:
            fields["template_data"] = request.template_data
    return fields


def log_row(
    config: Config,
    message,
    request: SendRequest | None,
    *,
    message_id: str | None = None,
    request_id: str | None = None,
    attempts: int = 0,
    duration_ms: int | None = None,
    error: SESError | None = None,
    status: str | None = None,
):
    """The unsaved row for one message, or None (logging is off for it).
    ``status`` replaces ``sent`` for a message not sent without an error
    (``suppressed``)."""
    if not config.log or (config.log == "failures" and error is None and status is None):
        return None
    from ..models import EmailLog

    fields = _message_fields(message)
    if request is not None:
        fields.update(request_fields(config, request))
    else:
        if config.log_body:
            fields.update(text_body=str(message.body or ""))
        template = getattr(message, "template_id", None)
        if isinstance(template, str):
            fields["template_name"] = template
    if error is not None:
        fields.update(
            status=EmailLog.Status.UNKNOWN if error.may_have_been_sent else EmailLog.Status.FAILED,
            error_code=error.code or "",
            error_message=error.message or str(error),
            http_status=error.http_status,
            request_id=error.request_id or "",
        )
    else:
        fields.update(
            status=status or EmailLog.Status.SENT, message_id=message_id or "", request_id=request_id or ""
        )
    fields.update(attempts=attempts, duration_ms=duration_ms, region=config.region or "")
    notes = fit_columns(fields)
    if notes:
        logger.warning(
            "The send log row (status=%s, MessageId=%s) was changed to fit the database: %s.",
            fields["status"], fields.get("message_id") or "-", "; ".join(notes),
        )
        if error is not None:
            fields["error_message"] += f"\n[Stored with changes: {'; '.join(notes)}.]"
    return new_row(EmailLog, fields)


def destination_rows(
    config: Config, message, request: SendRequest, outcomes: list, *, request_id: str | None = None,
    attempts: int = 0, duration_ms: int | None = None, http_status: int | None = None, bulk_id: str = "",
) -> list:
    """The unsaved rows of a bulk request's destinations (``request.destinations``),
    one per destination, each with its own outcome (``status``,
    ``message_id``, ``error``); None for a row the log does not keep.
    ``bulk_id`` marks the rows of one request. The fields they share are
    built and checked once, each row a copy of them."""
    if not config.log:
        return [None] * len(outcomes)
    from ..models import EmailLog

    base = request_fields(config, request)  # the message's addresses are the request's
    base.update(attempts=attempts, duration_ms=duration_ms, region=config.region or "",
                request_id=request_id or "", status=EmailLog.Status.SENT, bulk_id=bulk_id)
    notes = fit_columns(base)
    template = new_row(EmailLog, base)
    rows = []
    for destination, outcome in zip(request.destinations, outcomes):
        if config.log == "failures" and outcome.status == EmailLog.Status.SENT:
            rows.append(None)
            continue
        fields = {"to": [destination.to], "status": outcome.status, "message_id": outcome.message_id or ""}
        if destination.tags is not None:
            fields["tags"] = destination.tags
        if config.log_body:
            fields["template_data"] = destination.template_data
        error = outcome.error
        if error is not None:
            fields.update(
                error_code=error.code or "", error_message=error.message or str(error),
                http_status=error.http_status if error.http_status is not None else http_status,
                request_id=error.request_id or request_id or "",
            )
        changed = notes + fit_columns(fields)
        if changed:
            logger.warning(
                "The send log row (status=%s, MessageId=%s) was changed to fit the database: %s.",
                fields["status"], fields["message_id"] or "-", "; ".join(changed),
            )
        rows.append(copy_row(template, fields))
    return rows


def copy_row(template, fields: dict):
    """A new unsaved row: ``template``'s values, with ``fields`` (attnames) set."""
    row = type(template).__new__(type(template))
    row.__dict__.update(template.__dict__)
    row._state = type(template._state)()
    row.__dict__.update(fields)
    return row


@lru_cache(maxsize=None)
def _defaults(model) -> tuple[tuple, frozenset]:
    """(attname, the function giving its default) for each concrete field,
    and the set of those attnames."""
    defaults = tuple((field.attname, field.get_default) for field in model._meta.concrete_fields)
    return defaults, frozenset(attname for attname, _ in defaults)


def new_row(model, fields: dict):
    """``model(**fields)``, built from positional values when every name is
    a concrete field's attname: the same instance, at half the cost."""
    defaults, attnames = _defaults(model)
    if not attnames.issuperset(fields):  # e.g. a related object by its field name
        return model(**fields)
    return model(*[fields[attname] if attname in fields else default() for attname, default in defaults])


def save_row(config: Config, row):
    """Insert and commit one row; return it, or None (reported)."""
    try:
        # A savepoint when inside the caller's transaction on this alias, so
        # a failed insert cannot break that transaction.
        with transaction.atomic(using=config.log_database):
            row.save(force_insert=True, using=config.log_database)
        return row
    except Exception:
        logger.exception(
            "Could not write the send log row (status=%s, MessageId=%s, to=%s, subject=%r).",
            row.status, row.message_id or "-", ", ".join(row.to), row.subject,
        )
        return None
