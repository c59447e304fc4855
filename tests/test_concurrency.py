"""send_messages() with many messages: requests in flight, pooled keep-alive
connections, the rate limit, and exact counts, MessageIds and log rows.

Parallelism is observed by the local SES endpoint itself (how many requests
it is handling at once), connection reuse by its connection ids; nothing
asserts on wall-clock time.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.core.mail import EmailMessage

from django_ses_query.sending import direct as backend_module
from django_ses_query.sending import logwriter as logwriter_module
from django_ses_query import ratelimit
from django_ses_query.backend import EmailBackend
from django_ses_query.exceptions import CancelSend, SESMessageRejectedError
from django_ses_query.models import EmailLog
from django_ses_query.signals import post_send, pre_send
from tests import fakeses
from tests.fakeses import FakeSES, delay, error, ok

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"], transaction=True)

SUBJECT = "Message.Subject.Data"




class InFlight:
    """Counts the requests the endpoint is handling: from the moment it has
    read one until it starts writing the answer."""

    def __init__(self):
        self.now = 0
        self.max = 0
        self._lock = threading.Lock()

    def enter(self):
        with self._lock:
            self.now += 1
            self.max = max(self.max, self.now)

    def leave(self):
        with self._lock:
            self.now -= 1


@pytest.fixture
def in_flight(monkeypatch):
    counter = InFlight()
    serve, reply = fakeses._Handler._serve, fakeses._Handler._reply

    def counting_serve(handler, body):
        counter.enter()
        handler._counted = True
        try:
            serve(handler, body)
        finally:
            if handler.__dict__.pop("_counted", False):
                counter.leave()

    def counting_reply(handler, record, answer):
        if handler.__dict__.pop("_counted", False):
            counter.leave()
        reply(handler, record, answer)

    monkeypatch.setattr(fakeses._Handler, "_serve", counting_serve)
    monkeypatch.setattr(fakeses._Handler, "_reply", counting_reply)
    return counter


def messages(count, to=("to@example.com",)):
    return [EmailMessage(f"m{i:03d}", "Body", "from@example.com", list(to)) for i in range(count)]


def server_ids_by_subject(fake_ses) -> dict[str, str]:
    return {r.params[SUBJECT]: r.message_id for r in fake_ses.sent}


def assert_exact(msgs, fake_ses, *, attempted=None):
    """Every message's MessageId and row match what the endpoint did."""
    sent_ids = server_ids_by_subject(fake_ses)
    rows = {row.subject: row for row in EmailLog.objects.all()}
    assert len(rows) == EmailLog.objects.count()  # One row per message.
    for msg in msgs:
        row = rows.get(msg.subject)
        if msg.subject in sent_ids:
            assert msg.ses_message_id == sent_ids[msg.subject] == row.message_id
            assert row.status == EmailLog.Status.SENT
            assert msg.ses_log == row
        elif row is not None:
            assert msg.ses_message_id is None
            assert row.status == EmailLog.Status.FAILED
            assert msg.ses_log == row
        else:
            assert msg.ses_message_id is None and msg.ses_log is None
    if attempted is not None:
        assert set(rows) == attempted
    return rows


# -- parallelism and connections ----------------------------------------------------------


def test_requests_are_in_flight_together(make_backend, fake_ses, in_flight):
    fake_ses.enqueue(*[delay(0.3)] * 8)
    msgs = messages(8)

    assert make_backend(max_concurrency=4).send_messages(msgs) == 8

    assert in_flight.max == 4
    assert len({r.connection_id for r in fake_ses.requests}) <= 4
    assert_exact(msgs, fake_ses)


def test_never_more_than_max_concurrency(make_backend, fake_ses, in_flight):
    fake_ses.enqueue(*[delay(0.005)] * 200)
    msgs = messages(200)

    assert make_backend(max_concurrency=6).send_messages(msgs) == 200

    assert 2 <= in_flight.max <= 6
    assert len({r.connection_id for r in fake_ses.requests}) <= 6
    assert len(fake_ses.requests) == 200
    assert_exact(msgs, fake_ses)


def test_sequential_when_max_concurrency_is_one(make_backend, fake_ses, in_flight):
    fake_ses.enqueue(*[delay(0.05)] * 5)
    msgs = messages(5)

    assert make_backend(max_concurrency=1).send_messages(msgs) == 5

    assert in_flight.max == 1
    assert [r.params[SUBJECT] for r in fake_ses.requests] == [m.subject for m in msgs]
    assert len({r.connection_id for r in fake_ses.requests}) == 1


def test_connections_are_reused_across_batches_of_an_open_backend(make_backend, fake_ses):
    backend = make_backend(max_concurrency=4)
    with backend:
        assert backend.send_messages(messages(30)) == 30
        assert backend.send_messages(messages(30)) == 30
    assert len({r.connection_id for r in fake_ses.requests}) <= 4


def wait_until_idle_connections_closed(server: FakeSES, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while server._connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not server._connections, "the endpoint did not close its idle connections"


def test_keep_alive_connections_closed_between_batches_are_not_failures(settings):
    """The endpoint closes idle connections after 0.2 s; the next batch goes
    out on new connections, with no error and no retry."""
    with FakeSES(keep_alive_timeout=0.2) as server:
        settings.SES_QUERY = {**settings.SES_QUERY, "ENDPOINT_URL": server.endpoint_url}
        backend = EmailBackend(max_concurrency=4, max_retries=0)
        first, second = messages(8), messages(8)
        with backend:
            assert backend.send_messages(first) == 8
            before = {r.connection_id for r in server.requests}
            wait_until_idle_connections_closed(server)
            assert backend.send_messages(second) == 8
        after = {r.connection_id for r in server.requests[8:]}

    assert before.isdisjoint(after)
    assert len(server.sent) == 16
    assert list(EmailLog.objects.order_by().values_list("status", "attempts").distinct()) == [("sent", 1)]


# -- exact results with failures interleaved ----------------------------------------------------


def script_with_failures(count, *, every=7, throttle_every=None):
    """Answers for ``count`` requests: MessageRejected every ``every``th, a
    Throttling every ``throttle_every``th (each adds one request: the retry)."""
    answers, rejected, throttles = [], 0, 0
    for i in range(count):
        if throttle_every and i % throttle_every == 5:
            answers.append(error("Throttling_rate"))
            throttles += 1
        if i % every == 3:
            answers.append(error("MessageRejected"))
            rejected += 1
        else:
            answers.append(ok())
    return answers, rejected, throttles


def test_200_messages_with_failures_fail_silently(make_backend, fake_ses):
    answers, rejected, throttles = script_with_failures(200, throttle_every=20)
    fake_ses.enqueue(*answers)
    msgs = messages(200)

    sent = make_backend(max_concurrency=8, fail_silently=True).send_messages(msgs)

    assert sent == 200 - rejected == len(fake_ses.sent)
    assert len(fake_ses.requests) == 200 + throttles
    assert fake_ses.pending == 0
    rows = assert_exact(msgs, fake_ses, attempted={m.subject for m in msgs})
    failed = [r for r in rows.values() if r.status == EmailLog.Status.FAILED]
    assert len(failed) == rejected
    assert {(r.error_code, r.http_status, r.attempts) for r in failed} <= {
        ("MessageRejected", 400, n) for n in range(1, 5)
    }
    assert sum(r.attempts for r in rows.values()) == 200 + throttles
    assert len({m.ses_message_id for m in msgs if m.ses_message_id}) == sent


def test_200_messages_first_failure_stops_new_sends_and_raises(make_backend, fake_ses):
    # Every answer is a little slow, the first failure (the 11th) is not: it
    # is seen while later ones are still in flight.
    answers = [delay(0.02)] * 10 + [error("MessageRejected")] + [delay(0.02)] * 189
    fake_ses.enqueue(*answers)
    msgs = messages(200)

    with pytest.raises(SESMessageRejectedError):
        make_backend(max_concurrency=4).send_messages(msgs)

    attempted = {r.params[SUBJECT] for r in fake_ses.requests}
    assert 11 <= len(attempted) < 200
    rows = assert_exact(msgs, fake_ses, attempted=attempted)
    assert [r.error_code for r in rows.values() if r.status == "failed"] == ["MessageRejected"]
    assert sum(r.status == "sent" for r in rows.values()) == len(fake_ses.sent) == len(attempted) - 1


def test_in_flight_sends_finish_and_are_logged_after_a_failure(make_backend, fake_ses):
    """The first three requests to arrive are held, the fourth fails at once:
    no fifth request is made, the three held ones are logged as sent, then
    the failure is raised."""
    fake_ses.enqueue(delay(1.0), delay(1.0), delay(1.0), error("MessageRejected"))
    msgs = messages(20)

    with pytest.raises(SESMessageRejectedError):
        make_backend(max_concurrency=4).send_messages(msgs)

    assert len(fake_ses.requests) == 4
    rows = assert_exact(msgs, fake_ses, attempted={r.params[SUBJECT] for r in fake_ses.requests})
    assert sorted(r.status for r in rows.values()) == ["failed", "sent", "sent", "sent"]
    assert sum(m.ses_message_id is not None for m in msgs) == 3


def test_unexpected_exception_still_logs_the_sends_in_flight(make_backend, fake_ses):
    fake_ses.enqueue(*[delay(0.2)] * 20)
    msgs = messages(20)

    def receiver(sender, message, **kwargs):
        if message.subject == "m006":
            raise RuntimeError("a pre_send receiver broke")

    pre_send.connect(receiver)
    try:
        with pytest.raises(RuntimeError):
            make_backend(max_concurrency=4).send_messages(msgs)
    finally:
        pre_send.disconnect(receiver)

    attempted = {r.params[SUBJECT] for r in fake_ses.requests}
    assert len(attempted) == 6
    # The message whose receiver broke has its failed row too.
    assert_exact(msgs, fake_ses, attempted=attempted | {"m006"})
    assert EmailLog.objects.filter(status="sent").count() == 6
    assert EmailLog.objects.get(subject="m006").error_code == "PreSendError"


def test_cancelled_messages_are_not_counted(make_backend, fake_ses):
    msgs = messages(10)

    def receiver(sender, message, **kwargs):
        if int(message.subject[1:]) % 3 == 0:
            raise CancelSend("not this one")

    pre_send.connect(receiver)
    try:
        assert make_backend(max_concurrency=4).send_messages(msgs) == 6
    finally:
        pre_send.disconnect(receiver)
    assert len(fake_ses.requests) == 6
    assert_exact(msgs, fake_ses)


# -- the calling thread ---------------------------------------------------------------------------


def test_log_rows_and_signals_are_written_on_the_calling_thread(make_backend, fake_ses, monkeypatch):
    threads = []
    real_log_row = backend_module.log_row
    real_insert_rows = logwriter_module.insert_rows

    def log_row(*args, **kwargs):
        threads.append(("log", threading.get_ident()))
        return real_log_row(*args, **kwargs)

    def insert_rows(*args, **kwargs):
        threads.append(("insert", threading.get_ident()))
        return real_insert_rows(*args, **kwargs)

    def receiver(sender, **kwargs):
        threads.append(("post_send", threading.get_ident()))

    monkeypatch.setattr(backend_module, "log_row", log_row)
    monkeypatch.setattr(logwriter_module, "insert_rows", insert_rows)
    post_send.connect(receiver)
    fake_ses.enqueue(*[delay(0.01)] * 5, error("MessageRejected"))
    try:
        assert make_backend(max_concurrency=4, fail_silently=True).send_messages(messages(30)) == 29
    finally:
        post_send.disconnect(receiver)

    kinds = [kind for kind, _ in threads]
    assert kinds.count("log") == kinds.count("post_send") == 30
    assert kinds.count("insert") >= 1
    assert {ident for _, ident in threads} == {threading.get_ident()}


# -- the rate limit -------------------------------------------------------------------------------


@pytest.fixture
def frozen_bucket(monkeypatch):
    """Buckets on a clock that never moves: each send's wait is exactly what
    its reservation costs; the waits are recorded, not slept."""
    waits = []

    class FrozenBucket(ratelimit.TokenBucket):
        def __init__(self, rate):
            super().__init__(rate, clock=lambda: 0.0, sleep=waits.append)

    monkeypatch.setattr(ratelimit, "TokenBucket", FrozenBucket)
    return waits


@pytest.mark.parametrize("concurrency", [1, 4])
def test_rate_limit_counts_recipients_not_messages(make_backend, fake_ses, frozen_bucket, concurrency):
    """20 messages of 3 recipients at 10 recipients/s: the bucket's 10 go at
    once, then each message waits for 3 more recipients' worth."""
    msgs = messages(20, to=("a@example.com", "b@example.com", "c@example.com"))

    assert make_backend(max_concurrency=concurrency, max_send_rate=10).send_messages(msgs) == 20

    expected = [(3 * k - 10) / 10 for k in range(1, 21) if 3 * k > 10]
    assert sorted(frozen_bucket) == pytest.approx(expected)


def test_rate_limit_is_shared_by_backend_instances(make_backend, fake_ses, frozen_bucket):
    one = make_backend(max_concurrency=4, max_send_rate=5)
    two = make_backend(max_concurrency=4, max_send_rate=5)

    assert one.send_messages(messages(5)) == 5
    assert two.send_messages(messages(2)) == 2

    assert frozen_bucket == pytest.approx([0.2, 0.4])
    assert len(ratelimit._buckets) == 1


def test_retries_wait_for_the_rate_too(make_backend, fake_ses, frozen_bucket):
    fake_ses.enqueue(error("Throttling_rate"))
    msgs = messages(1, to=("a@example.com", "b@example.com"))

    assert make_backend(max_send_rate=2).send_messages(msgs) == 1

    # First attempt: a full bucket (2). The retry: 2 more recipients.
    assert frozen_bucket == pytest.approx([1.0])


def test_rate_from_quota_is_asked_once_for_a_concurrent_batch(make_backend, fake_ses, frozen_bucket):
    msgs = messages(6)

    assert make_backend(max_concurrency=4, send_rate_from_quota=True).send_messages(msgs) == 6

    actions = [r.action for r in fake_ses.requests]
    assert actions.count("GetSendQuota") == 1
    assert actions.count("SendEmail") == 6
    # MaxSendRate 1.0: one message a second after the first.
    assert sorted(frozen_bucket) == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0])
