"""Claiming a chunk's rows as they are sent.

Trusts the row ids of the task (they may name rows that are claimed by
another worker, final, or deleted: those are skipped). A row is claimed
with a conditional ``UPDATE`` (``queued`` -> ``sending``, ``claimed_at``,
and a token of this claim), committed before its request leaves; the rows
this claim won are read back by that token, so two copies of one chunk
never both send a row. Rows are claimed only as slots of ``MAX_CONCURRENCY``
free up: a worker killed mid-chunk leaves ``sending`` only the rows in
flight or waiting for their grouped final write, and the rows not yet
reached stay ``queued``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from django.db.models import Q
from django.utils import timezone

from ..sending.pipeline import Job, Pipeline
from ..sending.rows import RowPath

#: After this long sending, a chunk claims no more rows; its task enqueues
#: the rest again and returns (RQ kills a job at its timeout, 180 s by default).
TIME_BUDGET = 60.0  # seconds


class ClaimingPath(RowPath):
    """The row path over a chunk's row ids, claiming rows as it goes."""

    def __init__(self, pipeline: Pipeline, row_ids: list[int], *, budget: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(pipeline, clock=clock)
        self.row_ids = row_ids
        self.position = {row_id: index for index, row_id in enumerate(row_ids)}
        self.token = uuid.uuid4().hex
        self.deadline = clock() + (TIME_BUDGET if budget is None else budget)
        self.tried: set[int] = set()  # ids a claim of ours asked for
        self.won: dict[int, object] = {}  # rows claimed, not yet handed on
        self.started: dict[int, object] = {}  # rows handed to the pipeline
        self.left: list[int] = []  # ids not reached within the time budget

    def in_flight(self) -> int:
        return len(self.started) - len(self.statuses)  # Every row given a status was started.

    def prepare(self, row_id: int) -> list[Job]:
        if row_id not in self.tried:
            if self.clock() >= self.deadline:
                self.left.append(row_id)
                return []
            slots = max(1, self.pipeline.config.max_concurrency - self.in_flight())
            self.claim(row_id, slots)
        row = self.won.pop(row_id, None)
        if row is None:
            return []  # Not queued any more: another claim has it, or it is final.
        if row.bulk_id:
            # The rows of one SendBulkTemplatedEmail go as one request.
            group = [row] + [self.won.pop(pk) for pk, other in list(self.won.items()) if other.bulk_id == row.bulk_id]
            group.sort(key=lambda one: one.pk)
            for one in group:
                self.started[one.pk] = one
            return super().prepare(group)
        self.started[row_id] = row
        return super().prepare(row)

    def claim(self, row_id: int, count: int) -> None:
        """Claim up to ``count`` rows from ``row_id`` on, in the chunk's order."""
        from ..models import EmailLog

        start = self.position[row_id]
        ids = [i for i in self.row_ids[start:start + count] if i not in self.tried]
        self.tried.update(ids)
        rows = EmailLog.objects.using(self.pipeline.config.log_database)
        # Autocommit: the claim is committed before any request leaves.
        claimed_at = timezone.now()
        if rows.filter(pk__in=ids, status=EmailLog.Status.QUEUED).update(
            status=EmailLog.Status.SENDING, claimed_at=claimed_at, claim=self.token
        ):
            won = list(rows.filter(pk__in=ids, claim=self.token, status=EmailLog.Status.SENDING))
            bulk_ids = {row.bulk_id for row in won if row.bulk_id}
            if bulk_ids:
                # A bulk request's other rows are claimed with it.
                rows.filter(bulk_id__in=bulk_ids, status=EmailLog.Status.QUEUED).update(
                    status=EmailLog.Status.SENDING, claimed_at=claimed_at, claim=self.token
                )
                won = list(rows.filter(
                    Q(pk__in=ids) | Q(bulk_id__in=bulk_ids), claim=self.token, status=EmailLog.Status.SENDING
                ))
            for row in won:
                self.won[row.pk] = row
                self.tried.add(row.pk)

    def release(self) -> int:
        """Put rows claimed but never handed on back to ``queued``."""
        from ..models import EmailLog

        if not self.won:
            return 0
        ids, self.won = list(self.won), {}
        return EmailLog.objects.using(self.pipeline.config.log_database).filter(
            pk__in=ids, claim=self.token, status=EmailLog.Status.SENDING
        ).update(status=EmailLog.Status.QUEUED, claimed_at=None, claim="")
