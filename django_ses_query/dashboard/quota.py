"""Today's sending quota for the dashboard: ``GetSendQuota``, asked at most
once every :data:`CACHE_SECONDS` per endpoint and key in this process.

Trusts nothing in SES's answer: a missing or non-numeric field makes the
quota unreadable (shown as such), never a server error. A failed call is
remembered for :data:`FAILURE_CACHE_SECONDS`, so a page reload does not wait
for a broken endpoint again at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

CACHE_SECONDS = 300
FAILURE_CACHE_SECONDS = 60
#: The dashboard never waits long for SES: one attempt, a short timeout.
TIMEOUT = 5.0

_lock = threading.Lock()
_cache: dict[tuple[str, str], tuple[float, Quota]] = {}


@dataclass(frozen=True)
class Quota:
    """What ``GetSendQuota`` said, or why it could not be read (``error``)."""

    checked_at: object  # an aware datetime
    region: str = ""
    max_24_hour_send: float | None = None
    sent_last_24_hours: float | None = None
    max_send_rate: float | None = None
    error: str = ""

    @property
    def unlimited(self) -> bool:
        return self.max_24_hour_send is not None and self.max_24_hour_send < 0

    @property
    def percent_used(self) -> float | None:
        if self.max_24_hour_send is None or self.sent_last_24_hours is None or self.max_24_hour_send <= 0:
            return None
        return self.sent_last_24_hours / self.max_24_hour_send * 100

    @property
    def sandbox(self) -> bool:
        """The sandbox's quota: 200 messages a day at 1 a second."""
        return self.max_24_hour_send == 200 and self.max_send_rate == 1


def get_quota(config=None) -> Quota:
    """The cached quota for ``config`` (default: ``SES_QUERY``)."""
    from ..client import SESClient
    from ..conf import get_config
    from ..exceptions import SESError

    try:
        config = config or get_config(max_retries=0, timeout=TIMEOUT)
    except ImproperlyConfigured as error:
        return Quota(timezone.now(), error=str(error))
    client = SESClient(config)
    try:
        key = (client.endpoint_url, client.credentials().access_key_id)
    except SESError as error:
        return Quota(timezone.now(), region=config.region, error=" ".join(str(error).split()))
    with _lock:
        cached = _cache.get(key)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
    quota = _ask(client, config.region)
    ttl = FAILURE_CACHE_SECONDS if quota.error else CACHE_SECONDS
    with _lock:
        _cache[key] = (time.monotonic() + ttl, quota)
    return quota


def _ask(client, region: str) -> Quota:
    from ..exceptions import SESError

    client.open()
    try:
        values = client.call("GetSendQuota").result.values
    except SESError as error:
        return Quota(timezone.now(), region=region, error=" ".join(str(error).split()))
    finally:
        client.close()
    try:
        return Quota(
            timezone.now(),
            region=region,
            max_24_hour_send=float(values["Max24HourSend"]),
            sent_last_24_hours=float(values["SentLast24Hours"]),
            max_send_rate=float(values["MaxSendRate"]),
        )
    except (KeyError, ValueError):
        return Quota(timezone.now(), region=region, error=f"GetSendQuota answered without a usable quota: {values!r}")


def clear_cache() -> None:
    """Forget every cached quota (for tests)."""
    with _lock:
        _cache.clear()
