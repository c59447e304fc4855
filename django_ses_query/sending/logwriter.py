"""Send-log rows of a batch, written in groups.

One insert and one commit per ``LOG_COMMIT_ROWS`` rows, or sooner once the
oldest row waiting is ``LOG_COMMIT_SECONDS`` old, and always before
``send_messages()`` returns or raises. ``post_send`` for a message fires once
its row is written (so ``log`` has its primary key), in the order the
messages finished. ``LOG_COMMIT_ROWS=1`` writes and commits each row on its
own, as soon as its message is done.
"""

from __future__ import annotations

import logging
import time
from operator import itemgetter
from collections.abc import Callable

from django.db import connections, transaction

from ..conf import Config
from .sendlog import save_row

logger = logging.getLogger("django_ses_query")


def insert_rows(config: Config, rows: list) -> list:
    """Insert and commit ``rows`` together; return each row, or None where
    it could not be written (reported). If the group cannot be written as
    one, each row is tried on its own, so one bad row loses only itself."""
    if len(rows) > 1:
        alias = config.log_database
        new = [row for row in rows if row.pk is None]
        try:
            # A savepoint when inside the caller's transaction on this alias.
            with transaction.atomic(using=alias):
                if connections[alias].features.can_return_rows_from_bulk_insert:
                    insert_returning(alias, rows)
                else:  # No primary keys from a bulk insert (MySQL): one INSERT each, one commit.
                    for row in rows:
                        row.save(force_insert=True, using=alias)
            return rows
        except Exception:
            logger.debug("Could not write %d send log rows together; writing them one by one.",
                         len(rows), exc_info=True)
            for row in new:  # keys of rows the rollback took back
                row.pk = None
                row._state.adding = True
    return [save_row(config, row) for row in rows]


_batch_sizes: dict = {}


def insert_returning(alias: str, rows: list) -> None:
    """``bulk_create(rows)`` for new rows of one model without signals or
    defaults to compute (the send log's): ``INSERT ... RETURNING`` the
    primary keys, with each column's value prepared once for a run of rows
    that share it (a bulk request's rows share all but a few), which makes
    it several times cheaper per row."""
    from django.utils import timezone

    model = type(rows[0])
    connection = connections[alias]
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    stamped = [field for field in fields if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)]
    now = timezone.now()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    attnames = [field.attname for field in fields]
    preparers = [field.get_db_prep_save for field in fields]
    key = (alias, model)
    if key not in _batch_sizes:  # asks the database (SQLite: its variable limit)
        limit = connection.ops.bulk_batch_size(fields, range(10**6))
        # PostgreSQL's protocol carries at most 65535 parameters per statement.
        _batch_sizes[key] = max(1, min(limit, 65535 // len(fields)))
    size = _batch_sizes[key]
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    values_of = itemgetter(*attnames)
    last: tuple = (object(),) * len(fields)
    prepared: list = [None] * len(fields)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start:start + size]
            params: list = []
            for row in batch:
                for field in stamped:
                    setattr(row, field.attname, now)
                values = values_of(row.__dict__)
                prepared = [
                    before if value is previous else prepare(value, connection)
                    for prepare, value, previous, before in zip(preparers, values, last, prepared)
                ]
                last = values
                params += prepared
            cursor.execute(
                f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES {', '.join([one] * len(batch))} "
                f"RETURNING {quote(model._meta.pk.column)}",
                params,
            )
            for row, (pk,) in zip(batch, cursor.fetchall()):
                row.pk = pk
                row._state.adding = False
                row._state.db = alias


class LogWriter:
    """The rows of one ``send_messages()`` call (used on its thread only).

    ``done(message, log, error)`` is called for every message added, once
    its row (if any) is written: ``message.ses_log`` is then the saved row,
    or None when there is none.
    """

    def __init__(self, config: Config, done: Callable, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.done = done
        self.clock = clock
        self.pending: list[tuple] = []  # (message, row or None, error)
        self.rows = 0
        self.oldest: float | None = None  # when the oldest row waiting was added

    def add(self, message, row, error=None, recipients=(), *, sets_log: bool = True) -> None:
        """``recipients``: :class:`~django_ses_query.templates.RecipientStatus`
        objects whose ``log`` is this row; ``sets_log=False`` leaves
        ``message.ses_log`` alone (one row of a bulk send)."""
        if sets_log:
            message.ses_log = row
        for recipient in recipients:
            recipient.log = row
        if row is None and not self.pending:
            self.done(message, None, error)
            return
        self.pending.append((message, row, error, recipients, sets_log))
        if row is not None:
            self.rows += 1
            if self.oldest is None:
                self.oldest = self.clock()
        if self.rows >= self.config.log_commit_rows or self.timeout() == 0:
            self.flush()

    def timeout(self) -> float | None:
        """Seconds until the rows waiting are due (0: now), None if none wait."""
        if self.oldest is None:
            return None
        return max(0.0, self.oldest + self.config.log_commit_seconds - self.clock())

    def flush_if_due(self) -> None:
        if self.timeout() == 0:
            self.flush()

    def flush(self) -> None:
        """Write the rows waiting, then report their messages (in order)."""
        pending, self.pending = self.pending, []
        self.rows, self.oldest = 0, None
        rows = [entry[1] for entry in pending if entry[1] is not None]
        if rows:
            written = {id(row) for row in insert_rows(self.config, rows) if row is not None}
        for message, row, error, recipients, sets_log in pending:
            if row is not None and id(row) not in written:
                row = None
                if sets_log:
                    message.ses_log = None
                for recipient in recipients:
                    recipient.log = None
            self.done(message, row, error)
