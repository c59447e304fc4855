"""EmailLog: its migration, its indexes and the queries they serve."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from django_ses_query.models import EmailLog

pytestmark = pytest.mark.django_db

TABLE = EmailLog._meta.db_table


def test_migrations_match_the_model():
    out = StringIO()
    # Exits non-zero (SystemExit) when the model has changes with no migration.
    call_command("makemigrations", "django_ses_query", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def index_columns() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return {
        name: info["columns"]
        for name, info in constraints.items()
        if info["index"] and not info["primary_key"]
    }


def test_indexes_for_the_admin_filters_and_lookups():
    columns = sorted(tuple(cols) for cols in index_columns().values())
    for expected in [
        ("status", "created_at"),
        ("action", "created_at"),
        ("configuration_set", "created_at"),
        ("message_id",),
        ("created_at",),
    ]:
        assert expected in columns, expected


def plan(queryset) -> str:
    """The query plan, with sequential scans discouraged on PostgreSQL
    (whose planner scans a small table rather than use an index)."""
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            return queryset.explain()
    return queryset.explain()


def index_named(*columns: str) -> str:
    return next(name for name, cols in index_columns().items() if tuple(cols) == columns)


@pytest.mark.parametrize(
    ("queryset", "columns"),
    [
        (lambda: EmailLog.objects.filter(status="failed")[:100], ("status", "created_at")),
        (lambda: EmailLog.objects.filter(action="SendRawEmail")[:100], ("action", "created_at")),
        (lambda: EmailLog.objects.filter(configuration_set="marketing")[:100], ("configuration_set", "created_at")),
        (lambda: EmailLog.objects.filter(message_id="0100018c-abc-000000"), ("message_id",)),
        (
            lambda: EmailLog.objects.filter(created_at__lt=timezone.now() - datetime.timedelta(days=30)).values("pk")[:1000],
            ("created_at",),
        ),
    ],
    ids=["status", "action", "configuration_set", "message_id", "created_at"],
)
def test_queries_are_served_by_an_index(queryset, columns):
    assert index_named(*columns) in plan(queryset())


def test_str_and_recipients():
    row = EmailLog.objects.create(
        status=EmailLog.Status.FAILED,
        subject="Invoice",
        to=["a@example.com", "b@example.com"],
        cc=["c@example.com"],
        bcc=["d@example.com"],
    )
    assert str(row) == "failed: Invoice → a@example.com, b@example.com"
    assert row.recipients == ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]


def test_newest_first():
    first = EmailLog.objects.create(status="sent", subject="first")
    second = EmailLog.objects.create(status="sent", subject="second")
    EmailLog.objects.filter(pk=first.pk).update(created_at=timezone.now() - datetime.timedelta(hours=1))
    assert list(EmailLog.objects.values_list("subject", flat=True)) == ["second", "first"]
    # Same timestamp: the later row first.
    EmailLog.objects.update(created_at=timezone.now())
    assert list(EmailLog.objects.values_list("pk", flat=True)) == [second.pk, first.pk]
