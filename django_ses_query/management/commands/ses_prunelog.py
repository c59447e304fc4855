"""``manage.py ses_prunelog --days N``: delete send log rows older than N days,
with their SES events (received mail that answers them is kept, unlinked), a batch at a time, so a large delete never holds long
locks (and never reads the bodies of the rows it deletes)."""

from __future__ import annotations

import datetime

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from ...conf import get_config
from ...models import EmailEvent, EmailLog, InboundEmail, Suppression

BATCH_SIZE = 1000


def _rows(count: int) -> str:
    return f"{count} log row{'' if count == 1 else 's'}"


class Command(BaseCommand):
    help = "Deletes Amazon SES send log rows older than --days days, in batches."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, required=True, metavar="N",
            help="Delete the rows created more than N days ago.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only print how many rows would be deleted."
        )
        parser.add_argument(
            "--batch-size", type=int, default=BATCH_SIZE, metavar="N",
            help=f"Rows deleted per statement (default {BATCH_SIZE}).",
        )
        parser.add_argument(
            "--database", default=None,
            help="The database alias of the send log (default: SES_QUERY LOG_DATABASE).",
        )

    def handle(self, *args, days, dry_run, batch_size, database, verbosity, **options):
        if days < 0:
            raise CommandError("--days must be 0 or more.")
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        if database is None:
            try:
                database = get_config().log_database
            except ImproperlyConfigured as error:
                raise CommandError(str(error)) from None
        if database not in connections:
            raise CommandError(f"There is no database {database!r} in DATABASES.")
        cutoff = timezone.now() - datetime.timedelta(days=days)
        old = EmailLog.objects.using(database).filter(created_at__lt=cutoff).order_by()
        when = f"older than {days} day{'' if days == 1 else 's'} (created before {cutoff:%Y-%m-%d %H:%M:%S %Z})"
        where = "" if database == DEFAULT_DB_ALIAS else f" in database {database!r}"

        if dry_run:
            self.stdout.write(f"Dry run: {_rows(old.count())} {when}{where} would be deleted.")
            return

        total = 0
        while True:
            ids = list(old.values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            deleted = _delete(database, ids)
            total += deleted
            if verbosity >= 2:
                self.stdout.write(f"  deleted {deleted} ({total} so far)")
            if len(ids) < batch_size:
                break
        orphans = EmailEvent.objects.using(database).filter(log=None, created_at__lt=cutoff)
        if orphans.exists():  # Events for messages this log never had.
            with transaction.atomic(using=database):
                _delete_events(database, orphans)
        self.stdout.write(self.style.SUCCESS(f"Deleted {_rows(total)} {when}{where}."))


def _delete(database: str, ids: list[int]) -> int:
    """Delete these log rows and their events without the ORM's collector,
    which would first read every column of every row (bodies included)."""
    with transaction.atomic(using=database):
        EmailLog.objects.using(database).filter(resent_from__in=ids).update(resent_from=None)
        # Received mail is kept: a reply outlives the log row it answered.
        InboundEmail.objects.using(database).filter(log__in=ids).update(log=None)
        events = EmailEvent.objects.using(database).filter(log__in=ids)
        if events.exists():
            _delete_events(database, events)
        return EmailLog.objects.using(database).filter(pk__in=ids)._raw_delete(database)


def _delete_events(database: str, events) -> None:
    Suppression.objects.using(database).filter(event__in=events.values("pk")).update(event=None)
    events._raw_delete(database)
