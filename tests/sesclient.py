"""What the SES client tests share (the ``make_client`` fixture is in
conftest.py): a request body, a sleep recorder, a fake clock."""

from __future__ import annotations

import time

import urllib3

URLLIB3_1 = urllib3.__version__.startswith("1.")
SEND = {"Source": "from@example.com", "Destination.ToAddresses.member.1": "to@example.com",
        "Message.Subject.Data": "Hi", "Message.Body.Text.Data": "Body"}


class Recorder:
    def __init__(self):
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def requests_seen(server, count: int, limit: float = 10.0) -> int:
    """How many requests the endpoint recorded, once it has recorded at least
    ``count`` (a client that timed out may be quicker than the endpoint's
    thread in recording the request it made)."""
    deadline = time.monotonic() + limit
    while len(server.requests) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(server.requests)


def send(client, **kwargs):
    return client.call("SendEmail", SEND, **kwargs)



class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds

