"""A bulk templated message in the pipeline: its requests (one per 50
destinations) and what they add up to.

A bulk message counts once as sent when at least one destination was
accepted; when none was, its first destination's error is the message's
(raised unless ``fail_silently``), once every one of its requests is done.
"""

from __future__ import annotations

from ..exceptions import SESError
from ..templates.results import FAILED, UNKNOWN, DestinationOutcome, destination_outcomes


class BulkMessage:
    """What the jobs of one bulk message share."""

    def __init__(self, message, requests: int) -> None:
        self.message = message
        self.left = requests
        self.accepted = False
        #: (the request's position, the error) of the first failure seen.
        self.first_error: tuple[int, SESError] | None = None

    def finish(self, position: int, outcomes: list[DestinationOutcome]) -> tuple[int, SESError | None]:
        """One request done: (1 if the message now counts as sent, else 0;
        the error to report, once its last request is done and nothing
        was accepted)."""
        self.left -= 1
        counted = 0
        if not self.accepted and any(o.error is None for o in outcomes):
            self.accepted = counted = 1
        failed = next((o.error for o in outcomes if o.error is not None), None)
        if failed is not None and (self.first_error is None or position < self.first_error[0]):
            self.first_error = (position, failed)
        if self.left == 0 and not self.accepted and self.first_error is not None:
            return counted, self.first_error[1]
        return counted, None


def outcomes_of(request, response=None, error: SESError | None = None) -> list[DestinationOutcome]:
    """Each destination's outcome: from the answer, or the request's error
    for every destination."""
    if error is None:
        return destination_outcomes(response.result, len(request.destinations))
    status = UNKNOWN if error.may_have_been_sent else FAILED
    return [DestinationOutcome(status, None, error) for _ in request.destinations]


def summary(request, outcomes: list[DestinationOutcome]) -> str:
    """The failed destinations of a request, for the log."""
    return "; ".join(
        f"{destination.address}: {outcome.error}"
        for destination, outcome in zip(request.destinations, outcomes)
        if outcome.error is not None
    )
