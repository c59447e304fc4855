"""The dashboard's figures, counted in the database, a day at a time.

Every query is bounded by ``created_at >= start of the window`` and grouped
(``GROUP BY day, status`` and the like), so the database returns at most a
few hundred rows whatever the size of the log; the ``(status, created_at)``,
``(outcome, created_at)`` and ``(event_type, created_at)`` indexes serve
them (``COUNT(*)`` rather than ``COUNT(id)``, so PostgreSQL can answer from
the index alone). No body, header or JSON column is read.

Rates are per message: a message whose outcome (the worst over its
recipients) is ``bounced`` counts once, over the messages sent in the window.
SES counts per recipient, so for messages with several recipients these
rates read higher than SES's, never lower.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from ..models import EmailEvent, EmailLog, Suppression

#: The windows offered, in days.
WINDOWS = (14, 30)
DEFAULT_WINDOW = 14

#: Series of the "sends per day" chart: log statuses.
STATUSES = (
    EmailLog.Status.SENT,
    EmailLog.Status.FAILED,
    EmailLog.Status.UNKNOWN,
    EmailLog.Status.SUPPRESSED,
    EmailLog.Status.QUEUED,
    EmailLog.Status.SENDING,
)
#: Series of the "outcomes per day" chart: what SES events said.
OUTCOMES = (
    EmailLog.Outcome.DELIVERED,
    EmailLog.Outcome.DELAYED,
    EmailLog.Outcome.BOUNCED,
    EmailLog.Outcome.COMPLAINED,
)

#: SES's levels (percent): at the first it may review the account, at the
#: second it may pause its sending.
BOUNCE_LEVELS = (5.0, 10.0)
COMPLAINT_LEVELS = (0.1, 0.5)
#: Gmail's bulk-sender lines for the spam rate (percent): stay below the
#: first, never reach the second.
GMAIL_COMPLAINT_LEVELS = (0.1, 0.3)

#: How many reasons the "top reasons" table shows.
TOP_REASONS = 10


@dataclass
class Rate:
    name: str
    count: int
    of: int
    review: float
    pause: float

    @property
    def percent(self) -> float | None:
        return self.count / self.of * 100 if self.of else None

    @property
    def level(self) -> str:
        """``ok``, ``review`` (at or past SES's review level), ``pause`` or
        ``none`` (nothing sent)."""
        percent = self.percent
        if percent is None:
            return "none"
        if percent >= self.pause:
            return "pause"
        if percent >= self.review:
            return "review"
        return "ok"


@dataclass
class Reason:
    """One bounce or complaint reason with how many events gave it."""

    event_type: str
    bounce_type: str
    bounce_subtype: str
    feedback_type: str
    events: int

    @property
    def label(self) -> str:
        if self.event_type == EmailEvent.Type.COMPLAINT:
            return self.feedback_type or "(no feedback type)"
        if self.bounce_subtype and self.bounce_subtype != self.bounce_type:
            return f"{self.bounce_type or '?'} / {self.bounce_subtype}"
        return self.bounce_type or "(no bounce type)"

    def log_filter(self) -> dict[str, str]:
        """The log changelist's query parameters for the messages with this reason."""
        query = {"events__event_type": self.event_type}
        if self.event_type == EmailEvent.Type.COMPLAINT:
            query["events__feedback_type"] = self.feedback_type
        else:
            query["events__bounce_type"] = self.bounce_type
            query["events__bounce_subtype"] = self.bounce_subtype
        return query


@dataclass
class Figures:
    days: list[datetime.date]
    start: datetime.datetime
    #: {(day, status): messages}
    sends: dict[tuple[datetime.date, str], int] = field(default_factory=dict)
    #: {(day, outcome): messages}
    outcomes: dict[tuple[datetime.date, str], int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    outcome_totals: dict[str, int] = field(default_factory=dict)
    bounce_rate: Rate | None = None
    complaint_rate: Rate | None = None
    reasons: list[Reason] = field(default_factory=list)
    #: {(day, "unsubscribe"): new unsubscribes}
    unsubscribes: dict[tuple[datetime.date, str], int] = field(default_factory=dict)

    @property
    def unsubscribe_total(self) -> int:
        return sum(self.unsubscribes.values())


def window_days(days: int, today: datetime.date | None = None) -> list[datetime.date]:
    """The ``days`` days up to and including today (the current time zone)."""
    today = today or timezone.localdate()
    return [today - datetime.timedelta(days=n) for n in range(days - 1, -1, -1)]


def window_start(first_day: datetime.date) -> datetime.datetime:
    """Midnight at the start of ``first_day`` in the current time zone (naive
    when ``USE_TZ`` is off)."""
    midnight = datetime.datetime.combine(first_day, datetime.time.min)
    return timezone.make_aware(midnight) if timezone.is_naive(midnight) and _use_tz() else midnight


def _use_tz() -> bool:
    from django.conf import settings

    return settings.USE_TZ


def _per_day(queryset, column: str) -> dict[tuple[datetime.date, str], int]:
    day = TruncDate("created_at", tzinfo=timezone.get_current_timezone()) if _use_tz() else TruncDate("created_at")
    rows = (
        queryset.order_by()
        .annotate(day=day)
        .values_list("day", column)
        .annotate(n=Count("*"))
    )
    counts: dict[tuple[datetime.date, str], int] = {}
    for when, value, n in rows:
        counts[(when, value)] = counts.get((when, value), 0) + n
    return counts


def figures(days: int = DEFAULT_WINDOW, *, using: str | None = None) -> Figures:
    """Everything the dashboard shows for the last ``days`` days."""
    day_list = window_days(days)
    start = window_start(day_list[0])
    logs = EmailLog.objects.using(using).filter(created_at__gte=start)
    result = Figures(days=day_list, start=start)

    result.sends = _per_day(logs, "status")
    result.outcomes = _per_day(logs.filter(outcome__in=OUTCOMES), "outcome")
    for (_, status), n in result.sends.items():
        result.totals[status] = result.totals.get(status, 0) + n
    for (_, outcome), n in result.outcomes.items():
        result.outcome_totals[outcome] = result.outcome_totals.get(outcome, 0) + n

    sent = result.totals.get(EmailLog.Status.SENT, 0)
    result.bounce_rate = Rate(
        "bounce", result.outcome_totals.get(EmailLog.Outcome.BOUNCED, 0), sent, *BOUNCE_LEVELS
    )
    result.complaint_rate = Rate(
        "complaint", result.outcome_totals.get(EmailLog.Outcome.COMPLAINED, 0), sent, *COMPLAINT_LEVELS
    )

    reasons = (
        EmailEvent.objects.using(using)
        .filter(
            Q(event_type=EmailEvent.Type.BOUNCE) | Q(event_type=EmailEvent.Type.COMPLAINT),
            created_at__gte=start,
        )
        .order_by()
        .values_list("event_type", "bounce_type", "bounce_subtype", "feedback_type")
        .annotate(n=Count("*"))
        .order_by("-n", "event_type", "bounce_type", "bounce_subtype", "feedback_type")
    )[:TOP_REASONS]
    result.reasons = [Reason(*row) for row in reasons]
    result.unsubscribes = _per_day(
        Suppression.objects.using(using).filter(reason=Suppression.Reason.UNSUBSCRIBE, created_at__gte=start),
        "reason",
    )
    return result
