"""``manage.py ses_queue [--recover-stale MINUTES]``: the queue of
:class:`~django_ses_query.backend.QueuedEmailBackend` at a glance, and its
recovery after a killed worker or a lost task (run it by cron)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ...queued import recovery
from ._ses import add_using_argument, get_backend


class Command(BaseCommand):
    help = (
        "Shows the queued sending log by status and the oldest queued message. With "
        "--recover-stale MINUTES, rows stuck in 'sending' longer than that become 'unknown' "
        "(never resent), and rows 'queued' longer than that are enqueued again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--recover-stale", type=float, default=None, metavar="MINUTES",
            help="Recover rows stuck for more than MINUTES (choose more than a send can take, "
            "retries included, and more than the queue's usual wait).",
        )
        add_using_argument(parser, "whose queue to recover")

    def handle(self, *args, recover_stale, using=None, **options):
        if using is None:
            from ...queued.backend import QueuedEmailBackend

            try:
                backend = QueuedEmailBackend()
            except ImproperlyConfigured as error:
                raise CommandError(str(error)) from None
        else:
            backend = get_backend(using)
        if recover_stale is not None:
            if not recover_stale >= 0:
                raise CommandError("--recover-stale must be 0 or more minutes.")
            kwargs = {"mailer": using} if using else {}
            lost, requeued = recovery.recover_stale(backend, recover_stale, task_kwargs=kwargs)
            self.stdout.write(
                f"{len(lost)} row(s) stuck in 'sending' for more than {recover_stale:g} minutes are now "
                "'unknown' (not resent: the message may have been sent)."
            )
            if lost:
                self.stdout.write(f"Now 'unknown': {', '.join(f'#{pk}' for pk in lost)}.")
            self.stdout.write(f"{requeued} row(s) queued for more than {recover_stale:g} minutes were enqueued again.")
        counts = recovery.counts(backend.config)
        width = max(len(status) for status in counts)
        for status, count in counts.items():
            self.stdout.write(f"{status:<{width}}  {count}")
        oldest = recovery.oldest_queued(backend.config)
        if oldest is not None:
            age = timezone.now() - oldest.created_at
            self.stdout.write(
                f"Oldest queued: #{oldest.pk}, queued {oldest.created_at:%Y-%m-%d %H:%M:%S %Z} "
                f"({int(age.total_seconds() // 60)} minutes ago)."
            )
