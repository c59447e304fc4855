"""Stored templates through the send pipeline, against the local fake SES:
SendTemplatedEmail, SendBulkTemplatedEmail in requests of 50 destinations,
one log row per destination with its own MessageId or error, counting and
raising, suppression, the rate limit, concurrency and the queued backend.
The parameters are compared with botocore's serializer in test_templates_params."""

from __future__ import annotations

import pytest
from django.core.mail import EmailMessage

from django_ses_query.backend import QueuedEmailBackend
from django_ses_query.exceptions import SESInvalidMessageError, SESMessageRejectedError, SESTemplateError
from django_ses_query.models import EmailLog, Suppression
from django_ses_query.signals import post_send, pre_send
from django_ses_query.templates import RecipientStatus
from tests.fakeses import bulk_status, error

pytestmark = pytest.mark.django_db


def templated(count=0, *, to=None, template="welcome", **attributes):
    message = EmailMessage(from_email="from@example.com", to=to or [f"r{i}@example.com" for i in range(count)])
    message.template_id = template
    for name, value in attributes.items():
        setattr(message, name, value)
    return message


def destinations(request) -> list[str]:
    count = len({n.split(".")[2] for n in request.params if n.startswith("Destinations.member.")})
    return [request.params[f"Destinations.member.{i}.Destination.ToAddresses.member.1"] for i in range(1, count + 1)]


def test_template_without_merge_data_is_one_send_templated_email(make_backend, fake_ses):
    message = templated(to=["a@example.com", "B <b@example.com>"], cc=["c@example.com"],
                        reply_to=["r@example.com"], merge_global_data={"name": "Ann"})
    message.extra_headers = {"X-SES-MESSAGE-TAGS": "kind=welcome"}
    assert make_backend().send_messages([message]) == 1
    (request,) = fake_ses.requests
    assert request.action == "SendTemplatedEmail"
    assert request.params["Template"] == "welcome"
    assert request.params["TemplateData"] == '{"name": "Ann"}'
    assert request.params["Destination.ToAddresses.member.2"] == "B <b@example.com>"
    assert request.params["Destination.CcAddresses.member.1"] == "c@example.com"
    assert request.params["ReplyToAddresses.member.1"] == "r@example.com"
    assert request.params["Tags.member.1.Name"] == "kind"
    row = EmailLog.objects.get()
    assert (row.action, row.status, row.template_name, row.message_id) == (
        "SendTemplatedEmail", "sent", "welcome", request.message_id)
    assert row.template_data is None  # personal data: only with LOG_BODY
    assert message.ses_message_id == request.message_id and message.ses_log == row
    assert message.ses_recipients["b@example.com"] == RecipientStatus("sent", request.message_id, None, row)


def test_template_data_is_empty_object_without_merge_global_data(make_backend, fake_ses):
    make_backend().send_messages([templated(to=["a@example.com"])])
    assert fake_ses.requests[0].params["TemplateData"] == "{}"


def test_120_merge_data_recipients_are_three_requests_and_120_rows(make_backend, fake_ses):
    message = templated(120, merge_data={"r7@example.com": {"name": "Seven"}}, merge_global_data={"site": "S"})
    fake_ses.enqueue(bulk_status(), bulk_status(("MessageRejected", "Email address is not verified.")))
    assert make_backend().send_messages([message]) == 1
    requests = fake_ses.requests
    assert [r.action for r in requests] == ["SendBulkTemplatedEmail"] * 3
    assert [len(destinations(r)) for r in requests] == [50, 50, 20]
    assert sum((destinations(r) for r in requests), []) == message.to  # in order
    first = requests[0].params
    assert first["DefaultTemplateData"] == '{"site": "S"}'
    assert first["Destinations.member.8.ReplacementTemplateData"] == '{"name": "Seven"}'
    assert first["Destinations.member.1.ReplacementTemplateData"] == "{}"
    rows = {row.to[0]: row for row in EmailLog.objects.all()}
    assert len(rows) == 120
    assert [len({rows[a].bulk_id for a in destinations(r)}) for r in requests] == [1, 1, 1]
    assert len({row.bulk_id for row in rows.values()}) == 3
    ids = dict(zip(destinations(requests[0]) + destinations(requests[2]),
                   requests[0].message_ids + requests[2].message_ids))
    assert all(rows[address].message_id == ids[address] and rows[address].status == "sent" for address in ids)
    rejected = rows["r50@example.com"]
    assert (rejected.status, rejected.message_id, rejected.error_code, rejected.error_message) == (
        "failed", "", "MessageRejected", "Email address is not verified.")
    assert {rows[f"r{i}@example.com"].message_id for i in range(51, 100)} == set(requests[1].message_ids)
    assert message.ses_message_id is None
    status = message.ses_recipients["r50@example.com"]
    assert isinstance(status.error, SESMessageRejectedError) and status.log == rejected
    assert message.ses_recipients["r7@example.com"].message_id == rows["r7@example.com"].message_id


def test_missing_status_members_are_unknown_and_moto_members_are_accepted(make_backend, fake_ses):
    fake_ses.enqueue(bulk_status("moto", "Success", None, None))
    assert make_backend().send_messages([templated(4, merge_data={})]) == 1
    statuses = [EmailLog.objects.get(to=[f"r{i}@example.com"]).status for i in range(4)]
    assert statuses == ["sent", "sent", "unknown", "unknown"]


def test_a_request_error_fails_its_destinations_only(make_backend, fake_ses):
    fake_ses.enqueue(error("MessageRejected"))
    assert make_backend(max_retries=0).send_messages([templated(60, merge_data={})]) == 1
    assert EmailLog.objects.filter(status="failed").count() == 50
    assert EmailLog.objects.filter(status="sent").count() == 10


def test_nothing_accepted_raises_the_first_destinations_error(make_backend, fake_ses):
    fake_ses.enqueue(bulk_status("TemplateDoesNotExist", "MessageRejected"))
    with pytest.raises(SESTemplateError) as raised:
        make_backend().send_messages([templated(2, merge_data={})])
    assert raised.value.code == "TemplateDoesNotExist"
    fake_ses.enqueue(bulk_status("MessageRejected"))
    assert make_backend(fail_silently=True).send_messages([templated(1, merge_data={})]) == 0
    assert EmailLog.objects.filter(status="failed").count() == 3


def test_signals_pre_send_once_per_message_post_send_once_per_row(make_backend, fake_ses):
    seen = {"pre": 0, "post": []}

    def on_pre(message, **kwargs):
        seen["pre"] += 1

    def on_post(message, log, error, **kwargs):
        seen["post"].append((log.to[0], log.pk is not None))

    pre_send.connect(on_pre)
    post_send.connect(on_post)
    try:
        make_backend().send_messages([templated(55, merge_data={})])
    finally:
        pre_send.disconnect(on_pre)
        post_send.disconnect(on_post)
    assert seen["pre"] == 1
    assert len(seen["post"]) == 55 and all(saved for _, saved in seen["post"])


def test_merge_metadata_becomes_replacement_tags_and_log_body_keeps_template_data(make_backend, fake_ses):
    message = templated(to=["a@example.com", "b@example.com"], merge_data={"A@Example.com": {"n": 1}},
                        merge_metadata={"b@example.com": {"user": "u2"}}, merge_global_data={"g": 1})
    make_backend(tags={"app": "web"}, log_body=True).send_messages([message])
    params = fake_ses.requests[0].params
    assert params["DefaultTags.member.1.Name"] == "app"
    assert "Destinations.member.1.ReplacementTags.member.1.Name" not in params
    assert [params[f"Destinations.member.2.ReplacementTags.member.{i}.{f}"] for i in (1, 2) for f in ("Name", "Value")] == [
        "app", "web", "user", "u2"]
    a, b = EmailLog.objects.get(to=["a@example.com"]), EmailLog.objects.get(to=["b@example.com"])
    assert a.template_data == {"merge_global_data": {"g": 1}, "merge_data": {"n": 1}}
    assert b.tags == {"app": "web", "user": "u2"}


def test_cc_is_copied_into_each_destination_and_requests_hold_at_most_50_recipients(make_backend, fake_ses):
    make_backend().send_messages([templated(30, cc=["cc@example.com"], merge_data={})])
    assert [len(destinations(r)) for r in fake_ses.requests] == [25, 5]
    assert fake_ses.requests[0].params["Destinations.member.25.Destination.CcAddresses.member.1"] == "cc@example.com"


@pytest.mark.parametrize(
    "attributes, code, words",
    [
        ({"body": "Hello"}, "UnsupportedWithTemplate", "a body"),
        ({"subject": "Hi"}, "UnsupportedWithTemplate", "a subject"),
        ({"extra_headers": {"X-Custom": "1"}}, "UnsupportedWithTemplate", "X-Custom"),
        ({"template_id": None, "merge_data": {}}, "MergeDataWithoutTemplate", "merge_data"),
        ({"merge_data": {"nobody@example.com": {}}}, "UnknownMergeRecipient", "nobody@example.com"),
        ({"merge_data": {"r0@example.com": ["x"]}}, "InvalidMergeData", "r0@example.com"),
        ({"merge_data": {"r1@example.com": {"when": object()}}}, "InvalidMergeData", "'when'"),
        ({"template_id": "no spaces"}, "InvalidTemplateName", "no spaces"),
        ({"merge_metadata": {"r0@example.com": {"bad tag": "x"}}}, "InvalidTag", "bad tag"),
        ({"to": [f"r{i}@example.com" for i in range(51)]}, "TooManyRecipients", "51"),
        ({"to": [], "cc": ["c@example.com"], "merge_data": {}}, "NoToRecipients", "no To recipient"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(make_backend, fake_ses, attributes, code, words):
    message = templated(2)
    for name, value in attributes.items():
        setattr(message, name, value)
    with pytest.raises(SESInvalidMessageError) as raised:
        make_backend().send_messages([message])
    assert raised.value.code == code and words in str(raised.value)
    assert fake_ses.requests == []
    row = EmailLog.objects.get()
    assert (row.status, row.error_code) == ("failed", code)


def test_suppressed_recipients_are_dropped_before_chunking(make_backend, fake_ses):
    Suppression.objects.create(address="r1@example.com", reason="bounce")
    message = templated(51, merge_data={})
    assert make_backend(suppression=True).send_messages([message]) == 1
    assert [len(destinations(r)) for r in fake_ses.requests] == [50]
    assert "r1@example.com" not in destinations(fake_ses.requests[0])
    row = EmailLog.objects.get(to=["r1@example.com"])
    assert row.status == "suppressed"
    assert message.ses_recipients["r1@example.com"].status == "suppressed"


def test_rate_limit_counts_every_recipient_and_a_throttled_request_is_retried_alone(make_backend, fake_ses):
    backend = make_backend(max_send_rate=1000)
    waited = []
    backend.client.wait_for_rate = waited.append
    fake_ses.enqueue(bulk_status(), error("Throttling"))
    backend.send_messages([templated(70, cc=["c@example.com"], merge_data={})])
    # 25, 25 and 20 destinations with their Cc; the throttled second request twice.
    assert waited == [50, 50, 50, 40]
    sent = [destinations(r) for r in fake_ses.requests]
    assert sent[1] == sent[2] and EmailLog.objects.count() == 70
    assert EmailLog.objects.filter(status="sent").count() == 70


def test_with_concurrency_the_requests_are_in_flight_together(make_backend, fake_ses):
    backend = make_backend(max_concurrency=4)
    assert backend.send_messages([templated(200, merge_data={}), templated(to=["x@example.com"])]) == 2
    assert sorted(len(destinations(r)) for r in fake_ses.requests if r.action.startswith("SendBulk")) == [50] * 4
    assert len({r.connection_id for r in fake_ses.requests}) > 1
    assert EmailLog.objects.filter(status="sent").count() == 201


# -- Queued ----------------------------------------------------------------------------------------


@pytest.fixture
def queue_and_run(fake_ses, django_capture_on_commit_callbacks):
    def run(*messages, **options):
        backend = QueuedEmailBackend(**options)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            count = backend.send_messages(list(messages))
        queued = list(EmailLog.objects.order_by("pk").values_list("status", flat=True))
        for callback in callbacks:
            callback()
        return count, queued, callbacks

    return run


def test_queued_bulk_is_one_row_per_destination_and_one_task_per_request(queue_and_run, fake_ses):
    message = templated(60, merge_data={"r59@example.com": {"n": 59}})
    fake_ses.enqueue(bulk_status("Success", "MessageRejected"))
    count, queued, _ = queue_and_run(message)
    assert count == 1 and queued == ["queued"] * 60
    assert [len(destinations(r)) for r in fake_ses.requests] == [50, 10]
    assert fake_ses.requests[1].params["Destinations.member.10.ReplacementTemplateData"] == '{"n": 59}'
    rows = list(EmailLog.objects.order_by("pk"))
    assert [r.status for r in rows[:3]] == ["sent", "failed", "sent"]
    assert rows[1].error_code == "MessageRejected"
    assert rows[0].message_id == fake_ses.requests[0].message_ids[0]
    assert rows[59].message_id == fake_ses.requests[1].message_ids[-1]
    assert all(row.request_body == "" and row.template_name == "welcome" for row in rows)


def test_a_duplicated_queued_task_sends_nothing(fake_ses):
    from django_ses_query.queued.worker import send_row

    QueuedEmailBackend().send_messages([templated(3, merge_data={})])
    first = EmailLog.objects.order_by("pk").first()
    assert send_row(first.pk) == "sent"
    assert send_row(first.pk) == "" and send_row(first.pk + 1) == ""
    assert len(fake_ses.requests) == 1
    assert EmailLog.objects.filter(status="sent").count() == 3


def test_queued_template_without_merge_data_is_one_row(queue_and_run, fake_ses):
    count, queued, _ = queue_and_run(templated(to=["a@example.com", "b@example.com"]))
    assert (count, queued) == (1, ["queued"])
    assert [r.action for r in fake_ses.requests] == ["SendTemplatedEmail"]
    assert EmailLog.objects.get().status == "sent"


def test_log_failures_keeps_only_the_failed_destinations(make_backend, fake_ses):
    fake_ses.enqueue(bulk_status("Success", "MessageRejected", "Success"))
    message = templated(3, merge_data={})
    assert make_backend(log="failures").send_messages([message]) == 1
    (row,) = EmailLog.objects.all()
    assert (row.to, row.status) == (["r1@example.com"], "failed")
    assert message.ses_recipients["r0@example.com"].log is None
    assert message.ses_recipients["r1@example.com"].log == row


def test_the_admin_shows_the_template(make_backend, fake_ses, admin_client):
    make_backend(log_body=True).send_messages([templated(2, merge_data={"r1@example.com": {"name": "Uno"}})])
    row = EmailLog.objects.get(to=["r1@example.com"])
    page = admin_client.get(f"/admin/django_ses_query/emaillog/{row.pk}/change/").content.decode()
    assert row.bulk_id and EmailLog.objects.get(to=["r0@example.com"]).bulk_id == row.bulk_id
    assert "welcome" in page and row.bulk_id in page and "Uno" in page


def test_with_concurrency_one_failed_request_does_not_fail_the_message(make_backend, fake_ses):
    fake_ses.enqueue(error("MessageRejected"))
    message = templated(150, merge_data={})
    assert make_backend(max_concurrency=3, max_retries=0).send_messages([message]) == 1
    assert EmailLog.objects.filter(status="failed").count() == 50
    assert EmailLog.objects.filter(status="sent").count() == 100


def test_with_concurrency_nothing_accepted_raises_once_every_request_is_done(make_backend, fake_ses):
    fake_ses.enqueue(*[bulk_status(*["TemplateDoesNotExist"] * 50)] * 3)
    with pytest.raises(SESTemplateError):
        make_backend(max_concurrency=3).send_messages([templated(150, merge_data={})])
    assert len(fake_ses.requests) == 3
    assert EmailLog.objects.filter(status="failed", error_code="TemplateDoesNotExist").count() == 150


def test_send_templated_email_keeps_its_data_with_log_body(make_backend, fake_ses):
    make_backend(log_body=True).send_messages([templated(to=["a@example.com"], merge_global_data={"n": 1})])
    assert EmailLog.objects.get().template_data == {"merge_global_data": {"n": 1}, "merge_data": None}
