"""A send log seeded for the dashboard's tests: known counts per day, status,
outcome and reason, so every figure on the page can be checked."""

from __future__ import annotations

import datetime

from django.utils import timezone

from django_ses_query.models import EmailEvent, EmailLog


def at(days_ago: int, hour: int = 12) -> datetime.datetime:
    """Noon (or ``hour``) in the current time zone, ``days_ago`` days back."""
    day = timezone.localdate() - datetime.timedelta(days=days_ago)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def log(days_ago: int, status: str = "sent", outcome: str = "", **fields) -> EmailLog:
    row = EmailLog.objects.create(
        status=status, outcome=outcome, subject=fields.pop("subject", "Hello"),
        from_email="from@example.com", to=fields.pop("to", ["to@example.com"]), **fields,
    )
    # created_at is auto_now_add: set afterwards.
    EmailLog.objects.filter(pk=row.pk).update(created_at=at(days_ago))
    row.refresh_from_db()
    return row


def event(row: EmailLog, event_type: str, days_ago: int, **fields) -> EmailEvent:
    created = EmailEvent.objects.create(
        log=row, message_id=row.message_id, event_type=event_type,
        recipient=row.to[0] if row.to else "", timestamp=at(days_ago), **fields,
    )
    EmailEvent.objects.filter(pk=created.pk).update(created_at=at(days_ago))
    return created


def bounce(row, days_ago, bounce_type="Permanent", bounce_subtype="General"):
    return event(row, "bounce", days_ago, bounce_type=bounce_type, bounce_subtype=bounce_subtype,
                 diagnostic="smtp; 550 5.1.1 user unknown")


def complaint(row, days_ago, feedback_type="abuse"):
    return event(row, "complaint", days_ago, feedback_type=feedback_type)


def seed() -> dict:
    """The log the dashboard tests look at; returns what the page must show
    for the 14-day window."""
    # Today: 4 sent (3 delivered, 1 bounced Permanent/General), 1 failed.
    for _ in range(3):
        event(log(0, outcome="delivered"), "delivery", 0)
    bounce(log(0, outcome="bounced"), 0)
    log(0, status="failed", error_code="MessageRejected")
    # 3 days ago: 5 sent (2 delivered, 1 bounced Permanent/General, 1 bounced
    # Transient/MailboxFull, 1 complained abuse), 1 unknown.
    for _ in range(2):
        event(log(3, outcome="delivered"), "delivery", 3)
    bounce(log(3, outcome="bounced"), 3)
    bounce(log(3, outcome="bounced"), 3, "Transient", "MailboxFull")
    complaint(log(3, outcome="complained"), 3)
    log(3, status="unknown", error_code="ReadTimeout")
    # 13 days ago (the first day of 14): 1 sent, delayed.
    event(log(13, outcome="delayed"), "delivery_delay", 13)
    # 20 days ago: only in the 30-day window: 2 sent, 1 bounced.
    log(20, outcome="delivered")
    bounce(log(20, outcome="bounced"), 20)
    return {
        "sent": 10,
        "failed": 1,
        "unknown": 1,
        "delivered": 5,
        "bounced": 3,
        "complained": 1,
        "delayed": 1,
        "bounce_rate": "30.0 %",
        "complaint_rate": "10.0 %",
        "reasons": [("bounce", "Permanent / General", 2), ("bounce", "Transient / MailboxFull", 1), ("complaint", "abuse", 1)],
        "today": {"sent": 4, "failed": 1},
    }
