"""``manage.py ses_quota``: the account's sending quota and the last 24 hours
of sending statistics (GetSendQuota and GetSendStatistics)."""

from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand, CommandError

from ...exceptions import SESError
from ._ses import add_using_argument, get_backend, ses_command_error

STATISTICS = (
    # (field, label, rate at or above which SES may review the account)
    ("Bounces", "Bounces", 5.0),
    ("Complaints", "Complaints", 0.1),
    ("Rejects", "Rejects", None),
)
WINDOW = datetime.timedelta(hours=24)


def _number(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


def _show(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:,.2f}"


def _timestamp(value: str) -> datetime.datetime | None:
    try:
        moment = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


class Command(BaseCommand):
    help = (
        "Shows the Amazon SES sending quota (GetSendQuota) and a summary of the "
        "last 24 hours of sending statistics (GetSendStatistics)."
    )

    def add_arguments(self, parser):
        add_using_argument(parser, "whose account to show")

    def handle(self, *args, **options):
        backend = get_backend(options.get("using"))
        backend.open()
        try:
            quota = backend.client.call("GetSendQuota").result.values
            points = backend.client.call("GetSendStatistics").result.members
        except SESError as error:
            raise ses_command_error(error) from None
        finally:
            backend.close()
        self.show_quota(backend, quota)
        self.show_statistics(points, datetime.datetime.now(datetime.timezone.utc))

    def show_quota(self, backend, quota: dict[str, str]) -> None:
        if "Max24HourSend" not in quota or "MaxSendRate" not in quota:
            raise CommandError(f"GetSendQuota answered without a quota: {quota!r}.")
        out = self.stdout
        max_24h = _number(quota.get("Max24HourSend"))
        sent = _number(quota.get("SentLast24Hours"))
        rate = _number(quota.get("MaxSendRate"))
        out.write(self.style.MIGRATE_HEADING(f"Sending quota ({backend.config.region}, {backend.client.endpoint_url})"))
        if max_24h < 0:
            out.write(f"  Sent in the last 24 hours: {_show(sent)} (no daily quota)")
        else:
            used = sent / max_24h * 100 if max_24h else 0.0
            left = max(max_24h - sent, 0)
            line = f"  Sent in the last 24 hours: {_show(sent)} of {_show(max_24h)} ({used:.1f}%), {_show(left)} left"
            out.write(self.style.WARNING(line) if used >= 90 else line)
        out.write(f"  Maximum send rate:         {_show(rate)} message{'s' if rate != 1 else ''} per second")

    def show_statistics(self, points: list[dict[str, str]], now: datetime.datetime) -> None:
        recent = []
        for point in points:
            moment = _timestamp(point.get("Timestamp", ""))
            if moment is not None and now - WINDOW <= moment <= now:
                recent.append(point)
        totals = {
            field: sum(_number(point.get(field)) for point in recent)
            for field in ("DeliveryAttempts", "Bounces", "Complaints", "Rejects")
        }
        attempts = totals["DeliveryAttempts"]
        out = self.stdout
        out.write(
            self.style.MIGRATE_HEADING(
                f"Last 24 hours ({len(recent)} of {len(points)} data points from GetSendStatistics)"
            )
        )
        out.write(f"  Delivery attempts: {_show(attempts)}")
        for field, label, review_rate in STATISTICS:
            count = totals[field]
            if not attempts:
                out.write(f"  {label + ':':<18} {_show(count)}")
                continue
            rate = count / attempts * 100
            line = f"  {label + ':':<18} {_show(count)} ({rate:.2f}%)"
            if review_rate is not None and rate >= review_rate:
                line += f" (SES may review an account at {review_rate:g}% or more)"
                line = self.style.WARNING(line)
            out.write(line)
