"""Topic mail on the direct path: one SendRawEmail per envelope recipient,
each with its own one-click List-Unsubscribe link, its own log row and
MessageId; unsubscribes apply to it whatever SUPPRESSION says; mail without
a topic is unchanged."""

from __future__ import annotations

import base64
import email
import email.policy

import django
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage
from django.db import connections
from django.test import override_settings

from django_ses_query.backend import EmailBackend
from django_ses_query.exceptions import SESConfigurationError, SESError, SESInvalidMessageError
from django_ses_query.models import EmailLog, Suppression
from django_ses_query.signals import post_send, pre_send
from django_ses_query.unsubscribe import read_token, unsubscribe_url
from tests.fakeses import error

pytestmark = pytest.mark.django_db

BASE = "https://example.com"


@pytest.fixture
def topics(settings, fake_ses):
    settings.SES_QUERY = {**settings.SES_QUERY, "UNSUBSCRIBE_BASE_URL": BASE + "/"}
    return fake_ses


def newsletter(to=("a@example.com",), cc=(), bcc=(), topic="newsletter", **kwargs):
    message = EmailMessage("News", "Body", "from@example.com", list(to), cc=list(cc), bcc=list(bcc), **kwargs)
    if topic is not None:
        message.unsubscribe_topic = topic
    return message


def raw(request) -> bytes:
    return base64.b64decode(request.params["RawMessage.Data"])


def destinations(request) -> list[str]:
    return [v for k, v in request.params.items() if k.startswith("Destinations.member.")]


def header_lines(data: bytes) -> list[str]:
    """The top-level header lines, unfolded."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return head.replace("\r\n ", " ").split("\r\n")


def test_each_recipient_gets_its_own_copy_with_its_own_link(topics):
    message = newsletter(to=["A <a@example.com>", "b@example.com"], cc=["c@example.com"], bcc=["d@example.com"],
                         reply_to=["r@example.com"])
    assert EmailBackend().send_messages([message]) == 1

    assert [r.action for r in topics.sent] == ["SendRawEmail"] * 4
    assert [destinations(r) for r in topics.sent] == [
        ["a@example.com"], ["b@example.com"], ["c@example.com"], ["d@example.com"]
    ]
    for request, address in zip(topics.sent, "abcd"):
        data = raw(request)
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert parsed["To"] == "A <a@example.com>, b@example.com"
        assert parsed["Cc"] == "c@example.com"
        assert parsed["Reply-To"] == "r@example.com"
        assert parsed["Subject"] == "News"
        assert parsed["Bcc"] is None and b"d@example.com" not in data
        lines = header_lines(data)
        unsubscribe = [line for line in lines if line.lower().startswith("list-unsubscribe")]
        assert len(unsubscribe) == 2
        assert unsubscribe[1] == "List-Unsubscribe-Post: List-Unsubscribe=One-Click"
        url = unsubscribe[0].removeprefix("List-Unsubscribe: <").removesuffix(">")
        assert url.startswith(BASE + "/ses/unsubscribe/") and url.endswith("/") and "?" not in url
        assert read_token(url.split("/")[-2]) == (f"{address}@example.com", "newsletter")
        assert url == unsubscribe_url(f"{address}@example.com", "newsletter")

    rows = list(EmailLog.objects.order_by("pk"))
    assert [(r.to, r.cc, r.bcc) for r in rows] == [
        (["A <a@example.com>"], [], []), (["b@example.com"], [], []), ([], ["c@example.com"], []),
        ([], [], ["d@example.com"]),
    ]
    assert {r.topic for r in rows} == {"newsletter"} and {r.status for r in rows} == {"sent"}
    assert [r.message_id for r in rows] == [r.message_id for r in topics.sent]
    assert len({r.message_id for r in rows}) == 4
    assert message.ses_message_id == rows[0].message_id
    assert [c.ses_message_id for c in message.ses_copies] == [r.message_id for r in rows]


def test_a_long_link_with_mailto_is_written_literally_and_folded_after_the_comma(topics, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "UNSUBSCRIBE_MAILTO": "unsubscribe@example.com"}
    EmailBackend().send_messages([newsletter(to=["someone.with.a.long.name@subdomain.example.com"])])
    head = raw(topics.sent[0]).split(b"\r\n\r\n", 1)[0]
    assert b"=?" not in head
    start = head.index(b"List-Unsubscribe: <https://example.com/ses/unsubscribe/")
    folded = head[start:].split(b"\r\nList-Unsubscribe-Post:")[0]
    first, second = folded.split(b",\r\n ")
    assert first.endswith(b"/>") and b"\r\n" not in first
    assert second == b"<mailto:unsubscribe@example.com?subject=unsubscribe>"


def test_a_callers_long_list_unsubscribe_is_written_literally():
    from django_ses_query.mime import raw_message_bytes

    value = "<https://example.com/u/" + "x" * 120 + ">"
    data = raw_message_bytes(EmailMessage("s", "b", "f@example.com", ["t@example.com"],
                                          headers={"List-Unsubscribe": value}))
    assert f"List-Unsubscribe: {value}\r\n".encode() in data


def test_no_topic_is_one_request_as_before(topics):
    message = newsletter(to=["a@example.com", "b@example.com"], topic=None)
    assert EmailBackend().send_messages([message]) == 1
    [request] = topics.sent
    assert request.action == "SendEmail"
    assert "List-Unsubscribe" not in str(request.params)
    assert EmailLog.objects.get().topic == ""


def test_the_mailer_topic_applies_and_an_empty_topic_opts_out(topics, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "UNSUBSCRIBE_TOPIC": "digest"}
    backend = EmailBackend()
    assert backend.send_messages([newsletter(topic=None), newsletter(topic=""), newsletter(topic="news")]) == 3
    assert [r.action for r in topics.sent] == ["SendRawEmail", "SendEmail", "SendRawEmail"]
    assert list(EmailLog.objects.order_by("pk").values_list("topic", flat=True)) == ["digest", "", "news"]
    topics.reset()
    EmailBackend(unsubscribe_topic="offers").send_messages([newsletter(topic=None)])
    assert EmailLog.objects.order_by("pk").last().topic == "offers"


@pytest.mark.parametrize("topic", ["a b", "x" * 65, "*", "café", 3])
def test_a_bad_topic_fails_the_message(topics, topic):
    with pytest.raises(SESInvalidMessageError) as caught:
        EmailBackend().send_messages([newsletter(topic=topic)])
    assert caught.value.code == "InvalidTopic"
    assert topics.sent == []
    assert EmailLog.objects.get().status == "failed"


def test_a_bad_mailer_topic_or_base_url_is_a_configuration_error(settings):
    for key, value in (("UNSUBSCRIBE_TOPIC", "no spaces"), ("UNSUBSCRIBE_BASE_URL", "https://example.com/path"),
                       ("UNSUBSCRIBE_BASE_URL", "ftp://example.com"), ("UNSUBSCRIBE_MAILTO", "Name <a@b.c>")):
        settings.SES_QUERY = {**settings.SES_QUERY, key: value}
        with pytest.raises(ImproperlyConfigured, match=key):
            EmailBackend()
        del settings.SES_QUERY[key]


def test_a_topic_without_a_base_url_sends_nothing(fake_ses, caplog):
    with pytest.raises(SESConfigurationError) as caught:
        EmailBackend().send_messages([newsletter()])
    assert caught.value.code == "UnsubscribeNotConfigured" and "UNSUBSCRIBE_BASE_URL" in str(caught.value)
    assert EmailBackend(fail_silently=True).send_messages([newsletter()]) == 0
    assert fake_ses.sent == []
    assert list(EmailLog.objects.values_list("status", "error_code")) == [("failed", "UnsubscribeNotConfigured")] * 2


@override_settings(ROOT_URLCONF="tests.urls_without_ses")
def test_a_topic_whose_endpoint_does_not_reverse_sends_nothing(topics):
    with pytest.raises(SESConfigurationError, match="django_ses_query.urls") as caught:
        EmailBackend().send_messages([newsletter()])
    assert caught.value.code == "UnsubscribeNotConfigured"
    assert topics.sent == []


def test_a_callers_list_unsubscribe_is_kept_and_not_split(topics):
    Suppression.objects.create(address="b@example.com", topic="newsletter", reason="unsubscribe")
    message = newsletter(to=["a@example.com", "b@example.com"],
                         headers={"List-Unsubscribe": "<mailto:u@example.com>"})
    assert EmailBackend().send_messages([message]) == 1
    [request] = topics.sent
    assert destinations(request) == ["a@example.com"]
    lines = header_lines(raw(request))
    assert [line for line in lines if line.lower().startswith("list-unsubscribe")] == [
        "List-Unsubscribe: <mailto:u@example.com>"
    ]
    row = EmailLog.objects.get()
    assert (row.topic, row.suppressed) == ("newsletter", ["b@example.com"])


def test_unsubscribes_apply_by_topic_whatever_suppression_says(topics, settings):
    Suppression.objects.create(address="A@example.com", topic="newsletter", reason="unsubscribe")
    Suppression.objects.create(address="b@example.com", topic="*", reason="unsubscribe")
    Suppression.objects.create(address="c@example.com", reason="bounce")
    to = ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
    backend = EmailBackend()
    assert backend.send_messages([newsletter(to=to), newsletter(to=to, topic="offers"), newsletter(to=to, topic=None)]) == 3
    # SUPPRESSION is off: the bounce does not count, the unsubscribes do.
    assert [destinations(r) or r.params.get("Destination.ToAddresses.member.1") for r in topics.sent] == [
        ["c@example.com"], ["d@example.com"], ["a@example.com"], ["c@example.com"], ["d@example.com"],
        "a@example.com",
    ]
    suppressed = EmailLog.objects.filter(status="suppressed").order_by("pk")
    assert [(r.topic, r.suppressed) for r in suppressed] == [
        ("newsletter", ["a@example.com"]), ("newsletter", ["b@example.com"]), ("offers", ["b@example.com"]),
    ]
    topics.reset()
    settings.SES_QUERY = {**settings.SES_QUERY, "SUPPRESSION": True}
    assert EmailBackend().send_messages([newsletter(to=to, topic="offers")]) == 1
    assert [destinations(r) for r in topics.sent] == [["a@example.com"], ["d@example.com"]]


def test_all_copies_suppressed_counts_zero_and_signals_per_copy(topics):
    Suppression.objects.create(address="a@example.com", topic="*", reason="unsubscribe")
    seen = []

    def on_pre(sender, message, **kwargs):
        seen.append(("pre", message.subject))

    def on_post(sender, message, log, error, **kwargs):
        seen.append(("post", message.recipients(), log.status))

    pre_send.connect(on_pre)
    post_send.connect(on_post)
    try:
        backend = EmailBackend()
        assert backend.send_messages([newsletter(to=["a@example.com"])]) == 0
        assert backend.send_messages([newsletter(to=["a@example.com", "b@example.com"])]) == 1
    finally:
        pre_send.disconnect(on_pre)
        post_send.disconnect(on_post)
    assert seen == [("pre", "News"), ("pre", "News"), ("post", ["b@example.com"], "sent")]
    assert EmailLog.objects.filter(status="suppressed").count() == 2


def test_copies_share_the_batch_retries_and_concurrency(make_backend, settings, topics):
    topics.enqueue(error("Throttling"))
    backend = make_backend(max_concurrency=4)
    to = [f"r{i}@example.com" for i in range(6)]
    assert backend.send_messages([newsletter(to=to), newsletter(to=["x@example.com"], topic=None)]) == 2
    assert sorted(d for r in topics.sent if r.status == 200 for d in destinations(r)) == sorted(to)
    assert EmailLog.objects.filter(status="sent").count() == 7
    assert backend.sleeps  # the throttled copy was retried


def test_an_unreadable_list_fails_topic_copies_but_not_transactional_mail(topics, monkeypatch, caplog):
    from django.db.models.query import QuerySet

    def broken(self, *args, **kwargs):
        if self.model is Suppression:
            raise RuntimeError("database down")
        return original(self, *args, **kwargs)

    original = QuerySet.values_list
    monkeypatch.setattr(QuerySet, "values_list", broken)
    backend = EmailBackend(fail_silently=True)
    assert backend.send_messages([newsletter(to=["a@example.com", "b@example.com"])]) == 0
    assert topics.sent == []
    assert sorted(EmailLog.objects.values_list("to", "status", "error_code")) == [
        (["a@example.com"], "failed", "SuppressionListUnavailable"),
        (["b@example.com"], "failed", "SuppressionListUnavailable"),
    ]
    with pytest.raises(SESError, match="SuppressionListUnavailable"):
        EmailBackend().send_messages([newsletter()])
    # Transactional mail is still sent (the list's failure is logged).
    assert EmailBackend(suppression=True).send_messages([newsletter(topic=None)]) == 1
    assert len(topics.sent) == 1
    assert "sending to every recipient" in caplog.text


def test_a_topic_message_keeps_the_fifty_recipient_limit(topics):
    bcc = [f"reader{i}@example.com" for i in range(50)]
    with pytest.raises(SESInvalidMessageError) as caught:
        EmailBackend().send_messages([newsletter(to=["list@example.com"], bcc=bcc)])
    assert caught.value.code == "TooManyRecipients" and "51 recipients" in str(caught.value)
    assert topics.sent == []
    assert EmailLog.objects.get().status == "failed"


def test_a_resent_topic_copy_keeps_its_topic_and_skips_an_unsubscribe_since(topics, django_capture_on_commit_callbacks):
    from django_ses_query.backend import QueuedEmailBackend
    from django_ses_query.queued.recovery import resend

    topics.enqueue(error("MessageRejected"))
    with django_capture_on_commit_callbacks(execute=True):  # the immediate task backend sends it
        QueuedEmailBackend(log_body=True).send_messages([newsletter(to=["a@example.com"])])
    failed = EmailLog.objects.get()
    assert (failed.status, failed.topic) == ("failed", "newsletter")
    Suppression.objects.create(address="a@example.com", topic="newsletter", reason="unsubscribe")
    with django_capture_on_commit_callbacks(execute=True):
        again = resend(QueuedEmailBackend(log_body=True), failed)
    again.refresh_from_db()
    assert (again.status, again.topic, again.suppressed) == ("suppressed", "newsletter", ["a@example.com"])
    assert len(topics.requests) == 1  # only the first, refused attempt


def test_an_address_in_two_lists_gets_one_copy(topics):
    message = newsletter(to=["A@example.com"], cc=["a@example.com"], bcc=["a@EXAMPLE.com", "b@example.com"])
    assert EmailBackend().send_messages([message]) == 1
    assert [destinations(r) for r in topics.sent] == [["A@example.com"], ["b@example.com"]]
    assert b"b@example.com" not in raw(topics.sent[0])


def test_one_suppression_query_for_all_copies_of_a_message(topics):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connections["default"]) as queries:
        EmailBackend().send_messages([newsletter(to=[f"r{i}@example.com" for i in range(5)])])
    assert len(topics.sent) == 5
    assert len([q for q in queries.captured_queries if "suppression" in q["sql"].lower()]) == 1


@pytest.mark.skipif(django.VERSION < (6, 1), reason="Django 6.1's MAILERS")
def test_a_mailers_entry_with_a_topic(topics, settings):
    from django.core import mail

    settings.MAILERS = {
        "default": {"BACKEND": "django_ses_query.backend.EmailBackend"},
        "news": {"BACKEND": "django_ses_query.backend.EmailBackend", "OPTIONS": {"unsubscribe_topic": "news"}},
    }
    assert mail.send_mail("Hi", "Body", "from@example.com", ["a@example.com"]) == 1
    assert mail.send_mail("News", "Body", "from@example.com", ["a@example.com"], using="news") == 1
    assert [r.action for r in topics.sent] == ["SendEmail", "SendRawEmail"]
    assert list(EmailLog.objects.order_by("pk").values_list("topic", flat=True)) == ["", "news"]
