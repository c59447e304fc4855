"""``manage.py ses_prunelog --days N``: delete send log rows older than N days,
with their SES events (received mail that answers them is kept, unlinked), a
batch at a time, so a large delete never holds long locks (and never reads the
bodies of the rows it deletes).

An event younger than ``EVENT_MAX_AGE_DAYS`` is never deleted (it is
detached from the row deleted): it is what tells a replayed notification,
still young enough to be accepted, from a new one."""

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
        try:
            config = get_config()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        database = database or config.log_database
        if database not in connections:
            raise CommandError(f"There is no database {database!r} in DATABASES.")
        now = timezone.now()
        cutoff = now - datetime.timedelta(days=days)
        keep_after = None
        if config.event_max_age_days is not None:
            keep_after = now - datetime.timedelta(days=config.event_max_age_days)
        old = EmailLog.objects.using(database).filter(created_at__lt=cutoff).order_by()
        when = f"older than {days} day{'' if days == 1 else 's'} (created before {cutoff:%Y-%m-%d %H:%M:%S %Z})"
        where = "" if database == DEFAULT_DB_ALIAS else f" in database {database!r}"

        if dry_run:
            self.stdout.write(f"Dry run: {_rows(old.count())} {when}{where} would be deleted.")
            return

        total = kept = 0
        while True:
            ids = list(old.values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            deleted, detached = _delete(database, ids, keep_after)
            total += deleted
            kept += detached
            if verbosity >= 2:
                self.stdout.write(f"  deleted {deleted} ({total} so far)")
            if len(ids) < batch_size:
                break
        # Events for messages this log never had (or whose row went before).
        orphans = EmailEvent.objects.using(database).filter(
            log=None, created_at__lt=min(cutoff, keep_after) if keep_after else cutoff
        )
        if orphans.exists():
            with transaction.atomic(using=database):
                _delete_events(database, orphans)
        done = f"Deleted {_rows(total)} {when}{where}."
        if kept:
            done += (
                f" Kept {kept} SES event{'' if kept == 1 else 's'} younger than EVENT_MAX_AGE_DAYS "
                f"({config.event_max_age_days} days), detached from the rows deleted."
            )
        self.stdout.write(self.style.SUCCESS(done))


def _delete(database: str, ids: list[int], keep_after) -> tuple[int, int]:
    """Delete these log rows and their events without the ORM's collector,
    which would first read every column of every row (bodies included); the
    events created after ``keep_after`` are detached instead. Returns the
    rows deleted and the events detached."""
    with transaction.atomic(using=database):
        EmailLog.objects.using(database).filter(resent_from__in=ids).update(resent_from=None)
        # Received mail is kept: a reply outlives the log row it answered.
        InboundEmail.objects.using(database).filter(log__in=ids).update(log=None)
        events = EmailEvent.objects.using(database).filter(log__in=ids)
        detached = 0
        if keep_after is not None:
            detached = events.filter(created_at__gte=keep_after).update(log=None)
        if events.exists():
            _delete_events(database, events)
        return EmailLog.objects.using(database).filter(pk__in=ids)._raw_delete(database), detached


def _delete_events(database: str, events) -> None:
    Suppression.objects.using(database).filter(event__in=events.values("pk")).update(event=None)
    events._raw_delete(database)
