"""Retries with exponential back-off and full jitter, within a number of
attempts and a total time budget, by one rule for every AWS call.

A request that was not sent (nothing of it was written) is tried again; one
whose outcome is unknown (it was written) only when the caller allows it;
an answer is tried again when its error says so (``SESError.retryable``:
throttling, 5xx). Temporary credentials that expired early get one refresh
and one more try.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..exceptions import SESError, SESTransportError

logger = logging.getLogger("django_ses_query")

T = TypeVar("T")

BACKOFF_BASE = 0.1  # seconds
BACKOFF_CAP = 5.0  # seconds
#: AWS's answer to temporary credentials that expired: refresh, try once more.
EXPIRED_TOKEN_CODES = frozenset({"ExpiredToken", "ExpiredTokenException"})


def backoff_ceiling(attempt: int) -> float:
    """The longest wait after failed attempt number ``attempt`` (1-based)."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))


def full_jitter(ceiling: float) -> float:
    """Full jitter: a uniformly random wait between 0 and ``ceiling``."""
    return random.uniform(0, ceiling)


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how long, a call is tried (plain values)."""

    max_retries: int = 3
    budget: float = 30.0  # seconds, from the first attempt
    retry_unknown_outcome: bool = False

    def should_retry(self, error: SESError) -> bool:
        if isinstance(error, SESTransportError):
            if error.sent:
                return self.retry_unknown_outcome
            # A certificate or protocol mismatch will fail the same way again.
            return error.code != "SSLError"
        return error.retryable


@dataclass
class Attempted:
    """A call's result, with how many attempts it took and how long."""

    result: object
    attempts: int
    duration_ms: int


def call_with_retries(
    attempt: Callable[[], T],
    *,
    policy: RetryPolicy,
    what: str,
    should_retry: Callable[[SESError], bool] | None = None,
    before_attempt: Callable[[], object] | None = None,
    refresh: Callable[[], bool] | None = None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    jitter: Callable[[float], float] = full_jitter,
) -> Attempted:
    """Call ``attempt()`` until it returns, or raise its last :class:`SESError`.

    ``before_attempt`` runs before every attempt (a rate limit's wait, which
    the budget and ``duration_ms`` do not count). The error raised carries
    ``attempts`` and ``duration_ms``.
    """
    should_retry = should_retry or policy.should_retry
    started: float | None = None
    deadline = 0.0
    number = 0
    refreshed = False
    while True:
        number += 1
        if before_attempt is not None:
            before_attempt()
        if started is None:
            started = clock()
            deadline = started + policy.budget
        try:
            result = attempt()
        except SESError as error:
            error.attempts = number
            if error.code in EXPIRED_TOKEN_CODES and not refreshed:
                # Temporary credentials expired early (revoked, clock skew).
                refreshed = True
                if refresh is not None and refresh():
                    continue
            if number <= policy.max_retries and should_retry(error):
                delay = jitter(backoff_ceiling(number))
                if clock() + delay < deadline:
                    logger.warning(
                        "%s attempt %d failed (%s); retrying in %.2fs.", what, number, error.code, delay
                    )
                    sleep(delay)
                    continue
                logger.warning(
                    "%s attempt %d failed (%s); not retrying: the retry budget (%ss) is spent.",
                    what, number, error.code, policy.budget,
                )
            error.duration_ms = round((clock() - started) * 1000)
            raise
        return Attempted(result, number, round((clock() - started) * 1000))
