"""QueuedEmailBackend in one process: what queuing writes, what the task does
with a row (run by Django's immediate task backend once the test's
transaction "commits"), recovery, resending and the admin. Worker processes:
tests/test_queued_workers.py."""

from __future__ import annotations

import datetime
import io
import re

import django
import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.management import call_command
from django.utils import timezone

from django_ses_query.backend import EmailBackend, QueuedEmailBackend
from django_ses_query.exceptions import CancelSend, SESInvalidMessageError
from django_ses_query.models import EmailLog
from django_ses_query.queued.worker import send_row
from django_ses_query.signals import post_send, pre_send
from tests.fakeses import error, reset_connection

pytestmark = pytest.mark.django_db

DJANGO_61 = django.VERSION >= (6, 1)


def message(subject="Subject", to="to@example.com", **kwargs):
    return EmailMessage(subject=subject, body="Body", from_email="from@example.com", to=[to], **kwargs)


def tasks():
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.all()


@pytest.fixture
def queued(fake_ses, django_capture_on_commit_callbacks):
    """Send through the queued backend; the immediate task backend runs the
    tasks when the (captured) commit happens."""

    def send(*messages, **options):
        backend = QueuedEmailBackend(**options)
        with django_capture_on_commit_callbacks(execute=True):
            count = backend.send_messages(list(messages))
            assert fake_ses.requests == []  # Nothing before the commit.
        return count

    return send


@pytest.fixture
def db_tasks(settings, fake_ses):
    """Tasks stored by django-tasks-db, with no worker to run them."""
    settings.SES_QUERY = {**settings.SES_QUERY, "TASK_BACKEND": "db"}
    return fake_ses


# -- Queuing ---------------------------------------------------------------------------------------


def test_queuing_touches_no_network_and_stores_the_unsigned_request(db_tasks):
    sent = message("Queued")
    assert QueuedEmailBackend().send_messages([sent]) == 1
    assert db_tasks.requests == []
    row = EmailLog.objects.get()
    assert row.status == "queued"
    assert sent.ses_log == row and sent.ses_message_id is None
    assert row.request_body.startswith("Action=SendEmail&")
    assert "Message.Subject.Data=Queued" in row.request_body
    assert not re.search(r"Signature|AWS4-HMAC|X-Amz|AKIDEXAMPLE", row.request_body)
    assert (row.subject, row.to, row.from_email) == ("Queued", ["to@example.com"], "from@example.com")
    [task] = tasks()
    assert task.task_path == "django_ses_query.tasks.send_queued_email"
    assert task.args_kwargs == {"args": [row.pk], "kwargs": {}}
    assert task.queue_name == "default"


def test_task_queue_and_priority_settings(db_tasks):
    QueuedEmailBackend(task_queue="mail", task_priority=10).send_messages([message()])
    [task] = tasks()
    assert (task.queue_name, task.priority) == ("mail", 10)


def test_a_queue_the_task_backend_does_not_have_raises_when_queuing(fake_ses, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Exception, match="'nowhere' is not valid"):
        QueuedEmailBackend(task_queue="nowhere").send_messages([message()])
    assert not EmailLog.objects.exists()


def test_the_task_sends_once_the_transaction_commits(queued, fake_ses):
    sent = message("Hello")
    assert queued(sent) == 1
    [request] = fake_ses.sent
    row = EmailLog.objects.get()
    assert row.status == "sent"
    assert row.message_id == request.message_id
    assert row.attempts == 1 and row.claimed_at is not None
    assert row.request_body == ""  # Dropped once final (LOG_BODY is off).
    assert "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" in request.headers["Authorization"]


def test_log_body_keeps_the_request_and_the_body(queued, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "LOG_BODY": True}
    queued(message())
    row = EmailLog.objects.get()
    assert row.status == "sent"
    assert row.request_body.startswith("Action=SendEmail&") and row.text_body == "Body"


def test_a_raw_message_is_queued_and_sent_as_sendrawemail(queued, fake_ses):
    sent = EmailMultiAlternatives(subject="Files", body="See attached", from_email="from@example.com", to=["to@example.com"])
    sent.attach("notes.txt", "hello", "text/plain")
    queued(sent)
    [request] = fake_ses.sent
    assert request.action == "SendRawEmail"
    assert EmailLog.objects.get().action == "SendRawEmail"


def test_a_validation_error_raises_after_the_messages_before_it_were_queued(db_tasks):
    first, bad, last = message("First"), message("Bad"), message("Last")
    bad.from_email = ""
    with pytest.raises(SESInvalidMessageError, match="no sender"):
        QueuedEmailBackend().send_messages([first, bad, last])
    assert sorted(EmailLog.objects.values_list("subject", "status")) == [("Bad", "failed"), ("First", "queued")]
    assert last.ses_log is None


def test_fail_silently_queues_the_others(db_tasks):
    bad = message("Bad")
    bad.from_email = ""
    assert QueuedEmailBackend(fail_silently=True).send_messages([message("A"), bad, message("B")]) == 2
    assert tasks().count() == 2


def test_no_recipients_and_empty_batches_queue_nothing(db_tasks):
    assert QueuedEmailBackend().send_messages([]) == 0
    assert QueuedEmailBackend().send_messages([EmailMessage(subject="x", from_email="from@example.com")]) == 0
    assert not EmailLog.objects.exists() and not tasks().exists()


def test_pre_send_runs_when_queuing(db_tasks):
    def cancel(sender, message, **kwargs):
        if message.subject == "Cancelled":
            raise CancelSend("not this one")

    pre_send.connect(cancel)
    try:
        assert QueuedEmailBackend().send_messages([message("Cancelled"), message("Kept")]) == 1
    finally:
        pre_send.disconnect(cancel)
    assert list(EmailLog.objects.values_list("subject", flat=True)) == ["Kept"]


def test_a_secret_option_is_refused_outside_mailers(fake_ses):
    with pytest.raises(ImproperlyConfigured, match="SECRET_ACCESS_KEY") as raised:
        QueuedEmailBackend(secret_access_key="s3cr3t-value")
    assert "s3cr3t-value" not in str(raised.value)


def test_non_secret_options_reach_the_task(queued, fake_ses):
    queued(message(), region="eu-west-1")
    [request] = fake_ses.sent
    assert "/eu-west-1/ses/aws4_request" in request.headers["Authorization"]
    assert EmailLog.objects.get().region == "eu-west-1"


@pytest.mark.skipif(not DJANGO_61, reason="Django 6.1's MAILERS")
def test_a_mailers_entry_is_found_again_by_its_alias(settings, db_tasks):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django_ses_query.backend.QueuedEmailBackend",
            "OPTIONS": {"endpoint_url": db_tasks.endpoint_url, "region": "eu-west-1",
                        "secret_access_key": "mailer-secret-key"},
        }
    }
    assert mail.send_mail("Hi", "Body", "from@example.com", ["to@example.com"]) == 1
    [task] = tasks()
    assert task.args_kwargs["kwargs"] == {"mailer": "default"}
    assert "mailer-secret-key" not in str(task.args_kwargs)
    assert send_row(*task.args_kwargs["args"], **task.args_kwargs["kwargs"]) == "sent"
    [request] = db_tasks.sent
    assert "/eu-west-1/ses/aws4_request" in request.headers["Authorization"]


# -- The task ----------------------------------------------------------------------------------------


def test_a_second_task_for_the_same_row_does_nothing(db_tasks):
    QueuedEmailBackend().send_messages([message()])
    row = EmailLog.objects.get()
    assert send_row(row.pk) == "sent"
    assert send_row(row.pk) == ""
    assert send_row(row.pk + 1000) == ""  # A row deleted meanwhile.
    assert len(db_tasks.requests) == 1


def test_an_unknown_outcome_is_recorded_and_never_resent(queued, fake_ses):
    fake_ses.enqueue(reset_connection())
    queued(message())
    row = EmailLog.objects.get()
    assert row.status == "unknown"
    assert row.error_code == "ConnectionReset"
    call_command("ses_queue", "--recover-stale", "0", stdout=io.StringIO())
    assert len(fake_ses.requests) == 1
    assert EmailLog.objects.get().status == "unknown"


def test_an_ses_error_is_recorded_as_failed(queued, fake_ses):
    fake_ses.enqueue(error("MessageRejected"))
    queued(message())
    row = EmailLog.objects.get()
    assert (row.status, row.error_code, row.http_status) == ("failed", "MessageRejected", 400)


def test_post_send_fires_after_the_final_attempt_with_a_rebuilt_message(queued, fake_ses, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "LOG_BODY": True}
    seen = []

    def receiver(sender, message, log, error, **kwargs):
        seen.append((sender, message, log, error))

    post_send.connect(receiver)
    try:
        queued(message("Announced", cc=["cc@example.com"]))
    finally:
        post_send.disconnect(receiver)
    [(sender, sent, log, err)] = seen
    assert sender is QueuedEmailBackend and err is None
    assert (sent.subject, sent.to, sent.cc, sent.body) == ("Announced", ["to@example.com"], ["cc@example.com"], "Body")
    assert sent.ses_message_id == fake_ses.sent[0].message_id
    assert log == EmailLog.objects.get() and log.status == "sent"


@pytest.mark.parametrize(("log", "kept"), [(False, []), ("failures", ["failed"])])
def test_log_off_or_failures_only_deletes_the_queue_row_once_final(queued, fake_ses, settings, log, kept):
    settings.SES_QUERY = {**settings.SES_QUERY, "LOG": log}
    fake_ses.enqueue(error("MessageRejected"))
    queued(message("Rejected"), message("Sent"))
    assert list(EmailLog.objects.values_list("status", flat=True)) == kept
    assert len(fake_ses.sent) == 1


# -- Recovery -------------------------------------------------------------------------------------


def test_ses_queue_shows_counts_and_the_oldest_queued_row(db_tasks):
    QueuedEmailBackend().send_messages([message("A"), message("B")])
    oldest = EmailLog.objects.order_by("pk").first()
    out = io.StringIO()
    call_command("ses_queue", stdout=out)
    text = out.getvalue()
    assert re.search(r"^queued +2$", text, re.MULTILINE)
    assert re.search(r"^unknown +0$", text, re.MULTILINE)
    assert f"Oldest queued: #{oldest.pk}" in text


def test_recover_stale_only_touches_rows_older_than_the_limit(db_tasks):
    seen = []
    post_send.connect(receiver := lambda sender, log, error, **kw: seen.append((log.pk, error.code)))
    QueuedEmailBackend().send_messages([message("Old send"), message("Recent send"), message("Old queued"), message("Recent queued")])
    rows = {row.subject: row for row in EmailLog.objects.all()}
    an_hour_ago = timezone.now() - datetime.timedelta(hours=1)
    EmailLog.objects.filter(pk=rows["Old send"].pk).update(status="sending", claimed_at=an_hour_ago)
    EmailLog.objects.filter(pk=rows["Recent send"].pk).update(status="sending", claimed_at=timezone.now())
    EmailLog.objects.filter(pk=rows["Old queued"].pk).update(created_at=an_hour_ago)
    before = tasks().count()
    out = io.StringIO()
    try:
        call_command("ses_queue", "--recover-stale", "30", stdout=out)
    finally:
        post_send.disconnect(receiver)
    statuses = dict(EmailLog.objects.values_list("subject", "status"))
    assert statuses == {"Old send": "unknown", "Recent send": "sending", "Old queued": "queued", "Recent queued": "queued"}
    assert seen == [(rows["Old send"].pk, "WorkerLost")]
    assert [t.args_kwargs["args"] for t in tasks()].count([rows["Old queued"].pk]) == 2
    assert tasks().count() == before + 1
    assert db_tasks.requests == []
    assert "1 row(s) stuck in 'sending'" in out.getvalue()


def test_recover_stale_refuses_a_negative_age(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="0 or more"):
        call_command("ses_queue", "--recover-stale", "-1")


# -- Resending -----------------------------------------------------------------------------------


def resend(row):
    from django_ses_query.queued.recovery import resend

    return resend(QueuedEmailBackend(), row)


def test_resend_queues_a_linked_row_from_the_stored_request(queued, fake_ses, settings, django_capture_on_commit_callbacks):
    settings.SES_QUERY = {**settings.SES_QUERY, "LOG_BODY": True}
    fake_ses.enqueue(error("Throttling_daily"))
    queued(message("Again"))
    failed = EmailLog.objects.get()
    assert failed.status == "failed" and failed.request_body
    with django_capture_on_commit_callbacks(execute=True):
        new = resend(failed)
    new.refresh_from_db()
    assert new.resent_from == failed and new.status == "sent"
    assert [r.params["Message.Subject.Data"] for r in fake_ses.requests] == ["Again", "Again"]
    with pytest.raises(ValueError, match=f"resent already \\(as #{new.pk}\\)"):
        resend(failed)


def test_resend_rebuilds_a_sendemail_from_the_logged_bodies(fake_ses, settings, django_capture_on_commit_callbacks):
    settings.SES_QUERY = {**settings.SES_QUERY, "LOG_BODY": True}
    fake_ses.enqueue(error("MessageRejected"))
    sent = EmailMultiAlternatives(subject="Direct", body="Text", from_email="from@example.com", to=["to@example.com"])
    sent.attach_alternative("<p>HTML</p>", "text/html")
    EmailBackend(fail_silently=True).send_messages([sent])
    failed = EmailLog.objects.get()
    assert failed.request_body == "" and failed.status == "failed"
    with django_capture_on_commit_callbacks(execute=True):
        new = resend(failed)
    new.refresh_from_db()
    assert new.status == "sent"
    request = fake_ses.requests[-1]
    assert (request.params["Message.Body.Text.Data"], request.params["Message.Body.Html.Data"]) == ("Text", "<p>HTML</p>")


def test_resend_says_why_not(fake_ses):
    from django_ses_query.queued.recovery import resend_refusal

    fake_ses.enqueue(error("MessageRejected"))
    EmailBackend(fail_silently=True).send_messages([message()])
    failed = EmailLog.objects.get()
    assert "LOG_BODY" in resend_refusal(failed)
    raw = EmailLog.objects.create(status="failed", action="SendRawEmail", text_body="x")
    assert "raw message" in resend_refusal(raw)
    sent = EmailLog.objects.create(status="sent", action="SendEmail", request_body="Action=SendEmail")
    assert "only failed or unknown" in resend_refusal(sent)


# -- Admin -----------------------------------------------------------------------------------------


def test_admin_resend_action(admin_client, fake_ses, settings, django_capture_on_commit_callbacks):
    settings.SES_QUERY = {**settings.SES_QUERY, "LOG_BODY": True}
    fake_ses.enqueue(error("MessageRejected"), error("MessageRejected"))
    EmailBackend(fail_silently=True).send_messages([message("With body")])
    settings.SES_QUERY = {**settings.SES_QUERY, "LOG_BODY": False}
    EmailBackend(fail_silently=True).send_messages([message("Without body")])
    with_body, without_body = EmailLog.objects.order_by("pk")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/django_ses_query/emaillog/",
            {"action": "resend_selected", "_selected_action": [with_body.pk, without_body.pk]},
            follow=True,
        )
    text = response.content.decode()
    new = EmailLog.objects.get(resent_from=with_body)
    assert new.status == "sent"
    assert f"Queued 1 message again (#{new.pk})." in text
    assert f"Not resent: #{without_body.pk}: neither its request nor its body was kept" in text


def test_admin_status_filter_offers_the_queue_statuses(admin_client):
    text = admin_client.get("/admin/django_ses_query/emaillog/").content.decode()
    for status in ("queued", "sending", "unknown"):
        assert f"?status__exact={status}" in text


def test_admin_resend_needs_the_add_permission(client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_emaillog", "delete_emaillog"]))
    client.force_login(user)
    assert "resend_selected" not in client.get("/admin/django_ses_query/emaillog/").content.decode()
    user.user_permissions.add(Permission.objects.get(codename="add_emaillog"))
    user = django_user_model.objects.get(pk=user.pk)
    client.force_login(user)
    assert "resend_selected" in client.get("/admin/django_ses_query/emaillog/").content.decode()


@pytest.mark.skipif(not DJANGO_61, reason="Django 6.1's MAILERS")
def test_system_checks_cover_a_queued_mailers_entry(settings):
    from django_ses_query.checks import check_settings

    settings.MAILERS = {
        "default": {"BACKEND": "django_ses_query.backend.QueuedEmailBackend", "OPTIONS": {"max_retries": "3"}},
    }
    errors = [e for e in check_settings() if e.id == "django_ses_query.E003"]
    assert errors and "MAX_RETRIES" in errors[0].msg


def test_admin_detail_page_says_whether_a_queued_row_can_be_resent(admin_client, queued, fake_ses):
    fake_ses.enqueue(error("MessageRejected"))
    queued(message("Lost body"))
    failed = EmailLog.objects.get()
    text = admin_client.get(f"/admin/django_ses_query/emaillog/{failed.pk}/change/").content.decode()
    assert "Cannot be resent: neither its request nor its body was kept" in text
    resendable = EmailLog.objects.create(
        status="unknown", action="SendEmail", request_body="Action=SendEmail", resent_from=failed
    )
    text = admin_client.get(f"/admin/django_ses_query/emaillog/{resendable.pk}/change/").content.decode()
    assert "Can be resent" in text
    assert f'href="/admin/django_ses_query/emaillog/{failed.pk}/change/">#{failed.pk}</a>' in text
