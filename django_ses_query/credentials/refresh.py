"""Temporary credentials, refreshed before they expire (as botocore does).

* More than 15 minutes left: the current credentials are used, without a lock.
* Advisory window (15 to 10 minutes left): the first caller refreshes while
  every other caller keeps signing with the current credentials. If the
  refresh fails, the current ones are kept and the failure is logged.
* Mandatory window (10 minutes left or less): callers wait for the refresh.
  If it fails while the current credentials are still valid, they are kept
  (with a warning) rather than failing a send that can still be signed.
* Expired (or none yet): callers wait; a failed refresh raises. A signature
  never uses expired credentials.

Credentials that live less than half an hour (``ROLE_DURATION = 900``, a
short-lived ``credential_process``) get windows of half and a third of their
lifetime instead, so they are not refreshed at every signature.

A refresh that failed is not tried again for ``RETRY_AFTER_FAILURE`` seconds
while the current credentials are still valid, so an STS outage costs one
attempt per interval, not one per message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..exceptions import SESError
from .base import Credentials, CredentialsProvider, NoCredentials, credentials_error, format_time

logger = logging.getLogger("django_ses_query")

ADVISORY_WINDOW = 15 * 60  # seconds before expiry
MANDATORY_WINDOW = 10 * 60
RETRY_AFTER_FAILURE = 30.0
#: An ExpiredToken answer within this long after a refresh does not refresh again.
FORCED_REFRESH_INTERVAL = 5.0

#: Wall-clock time in seconds since the epoch (replaced by tests).
clock: Callable[[], float] = time.time


class RefreshableCredentialsProvider(CredentialsProvider):
    """Credentials from ``fetch()``, fetched again before they expire.

    ``fetch`` returns :class:`Credentials` (with an ``expiration``), or raises
    :class:`~django_ses_query.exceptions.SESError` or :class:`NoCredentials`.
    """

    def __init__(
        self,
        fetch: Callable[[], Credentials],
        source: str,
        credentials: Credentials | None = None,
    ) -> None:
        self._fetch = fetch
        self._source = source
        self._credentials: Credentials | None = None
        self._advisory = ADVISORY_WINDOW
        self._mandatory = MANDATORY_WINDOW
        if credentials is not None:
            self._set(credentials)
        self._lock = threading.Lock()
        self._failed_at: float | None = None
        self._refreshed_at: float | None = None  # time.monotonic()

    @property
    def source(self) -> str:  # type: ignore[override]
        return self._source

    def __repr__(self) -> str:
        return f"<{type(self).__name__} source={self.source!r} credentials={self._credentials!r}>"

    def get_credentials(self) -> Credentials:
        credentials = self._credentials
        if credentials is not None:
            left = _left(credentials, clock())
            if left > self._advisory:
                return credentials
            if left > self._mandatory:
                self._advisory_refresh()
            else:
                self._mandatory_refresh()
        else:
            self._mandatory_refresh()
        credentials = self._credentials
        if credentials is None or _left(credentials, clock()) <= 0:
            raise credentials_error(
                f"The temporary credentials from {self.source} have expired and could not be refreshed."
            )
        return credentials

    def refresh(self) -> bool:
        """Fetch new credentials now, unless that was done a moment ago."""
        with self._lock:
            if self._refreshed_at is not None and time.monotonic() - self._refreshed_at < FORCED_REFRESH_INTERVAL:
                return True
            try:
                self._refresh_now()
            except SESError as error:
                logger.warning("Refreshing the credentials from %s failed: %s", self.source, error)
                return False
            return True

    # The windows.

    def _advisory_refresh(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # Another thread is refreshing: keep using the current ones.
        try:
            credentials, now = self._credentials, clock()
            if credentials is not None and _left(credentials, now) > self._advisory:
                return  # Refreshed meanwhile.
            if self._failed_recently(now):
                return
            try:
                self._refresh_now()
            except SESError as error:
                self._failed_at = now
                logger.warning(
                    "Refreshing the credentials from %s failed (%s); using the current ones until %s.",
                    self.source, error, _expiry(credentials),
                )
        finally:
            self._lock.release()

    def _mandatory_refresh(self) -> None:
        with self._lock:
            credentials, now = self._credentials, clock()
            if credentials is not None and _left(credentials, now) > self._mandatory:
                return  # Refreshed while this thread waited.
            usable = credentials is not None and _left(credentials, now) > 0
            if usable and self._failed_recently(now):
                return
            try:
                self._refresh_now()
            except SESError as error:
                self._failed_at = now
                if not usable:
                    raise
                logger.warning(
                    "Refreshing the credentials from %s failed (%s); they expire at %s.",
                    self.source, error, _expiry(credentials),
                )

    def _set(self, credentials: Credentials) -> None:
        """Use ``credentials`` from now on. Short-lived ones (less than half
        an hour) get narrower windows, a half and a third of their lifetime,
        so that 15-minute credentials are not refreshed at every signature."""
        if credentials.expiration is not None:
            lifetime = max(credentials.expiration - clock(), 0.0)
            self._advisory = min(ADVISORY_WINDOW, lifetime / 2)
            self._mandatory = min(MANDATORY_WINDOW, lifetime / 3)
        self._credentials = credentials

    def _failed_recently(self, now: float) -> bool:
        return self._failed_at is not None and 0 <= now - self._failed_at < RETRY_AFTER_FAILURE

    def _refresh_now(self) -> None:
        """Fetch (the lock is held); raises SESError."""
        try:
            fresh = self._fetch()
        except NoCredentials as why:
            raise credentials_error(f"{self.source} gave no credentials: {why}.") from None
        if fresh.expiration is not None and fresh.expiration <= clock():
            raise credentials_error(
                f"{self.source} gave credentials that expired at {format_time(fresh.expiration)}."
            )
        self._set(fresh)
        self._failed_at = None
        self._refreshed_at = time.monotonic()
        logger.info(
            "Credentials from %s (access key id %s), valid until %s.",
            self.source, fresh.access_key_id, _expiry(fresh),
        )


def _left(credentials: Credentials, now: float) -> float:
    """Seconds until ``credentials`` expire (infinite for long-term keys)."""
    if credentials.expiration is None:
        return float("inf")
    return credentials.expiration - now


def _expiry(credentials: Credentials | None) -> str:
    if credentials is None or credentials.expiration is None:
        return "no expiry"
    return format_time(credentials.expiration)
