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
BACKEND_PATH = "django_ses_query.backend.EmailBackend"

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


def dashboard_config():
    """The settings the quota is read with: on Django 6.1, the ``OPTIONS`` of
    the ``MAILERS`` entry that uses this backend (``"default"`` first) over
    ``SES_QUERY``; otherwise ``SES_QUERY``. One attempt, a short timeout."""
    import django
    from django.conf import settings

    from ..conf import OPTION_NAMES, get_config

    options = {}
    mailers = (getattr(settings, "MAILERS", None) or {}) if django.VERSION >= (6, 1) else {}
    if isinstance(mailers, dict):
        aliases = sorted(mailers, key=lambda alias: alias != "default")
        for alias in aliases:
            entry = mailers[alias]
            if isinstance(entry, dict) and entry.get("BACKEND") == BACKEND_PATH:
                options = {
                    key: value for key, value in (entry.get("OPTIONS") or {}).items() if key in OPTION_NAMES
                }
                break
    return get_config(**{**options, "max_retries": 0, "timeout": TIMEOUT})


def get_quota(config=None) -> Quota:
    """The cached quota for ``config`` (default: :func:`dashboard_config`)."""
    from ..client import SESClient
    from ..credentials import provider_for
    from ..exceptions import SESError

    try:
        config = config or dashboard_config()
    except ImproperlyConfigured as error:
        return Quota(timezone.now(), error=str(error))
    client = SESClient(config, provider_for(config))
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
