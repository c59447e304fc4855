"""ses_sendtestemail, ses_quota and ses_prunelog, run as a user runs them."""

from __future__ import annotations

import base64
import datetime
import re
import socket
from io import StringIO

import django
import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_ses_query.exceptions import CancelSend
from django_ses_query.models import EmailLog
from django_ses_query.signals import pre_send
from tests.fakeses import error, ok, xml

pytestmark = pytest.mark.django_db

MAILERS = django.VERSION >= (6, 1)
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def run(*args, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def run_like_manage_py(capsys, *argv) -> tuple[int, str, str]:
    """Run as ``manage.py ARGV``: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", *argv]).execute()
        raise SystemExit(0)
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


@pytest.fixture
def addresses(settings):
    settings.DEFAULT_FROM_EMAIL = "noreply@example.com"
    settings.SERVER_EMAIL = "server@example.com"
    settings.ADMINS = ["admin1@example.com", "admin2@example.com"]
    settings.MANAGERS = ["manager@example.com"]
    settings.EMAIL_SUBJECT_PREFIX = "[Site] "


# -- ses_sendtestemail -----------------------------------------------------------


def test_sendtestemail_sends_and_prints_message_id_and_log_row(fake_ses, addresses):
    out = run("ses_sendtestemail", "one@example.com", "two@example.com")

    [request] = fake_ses.sent
    assert request.action == "SendEmail"
    assert request.params["Source"] == "noreply@example.com"
    assert request.params["Destination.ToAddresses.member.1"] == "one@example.com"
    assert request.params["Destination.ToAddresses.member.2"] == "two@example.com"
    assert request.params["Message.Subject.Data"].startswith(f"Test email from {socket.gethostname()} on ")
    assert request.params["Message.Body.Text.Data"] == "If you're reading this, it was successful."
    row = EmailLog.objects.get()
    assert row.message_id == request.message_id
    assert f"MessageId: {request.message_id}" in out
    assert re.search(rf"Log row: +{row.pk}\b", out)


def test_sendtestemail_admins_and_managers(fake_ses, addresses):
    out = run("ses_sendtestemail", "--admins", "--managers")
    by_first_recipient = {r.params["Destination.ToAddresses.member.1"]: r.params for r in fake_ses.sent}
    assert set(by_first_recipient) == {"admin1@example.com", "manager@example.com"}
    admins = by_first_recipient["admin1@example.com"]
    assert admins["Destination.ToAddresses.member.2"] == "admin2@example.com"
    assert admins["Source"] == "server@example.com"
    assert admins["Message.Subject.Data"].startswith("[Site] Test email from ")
    assert admins["Message.Body.Text.Data"] == "This email was sent to the site admins."
    managers = by_first_recipient["manager@example.com"]
    assert managers["Message.Body.Text.Data"] == "This email was sent to the site managers."
    assert out.count("MessageId: ") == 2 and EmailLog.objects.count() == 2


def test_sendtestemail_admins_as_name_address_pairs(fake_ses, addresses, settings):
    if django.VERSION >= (6, 0):
        pytest.skip("(name, address) pairs in ADMINS are deprecated from Django 6.0")
    settings.ADMINS = [("Admin", "pair@example.com")]
    run("ses_sendtestemail", "--admins")
    assert fake_ses.sent[0].params["Destination.ToAddresses.member.1"] == "pair@example.com"


def test_sendtestemail_empty_admins_is_an_error(fake_ses, addresses, settings):
    settings.ADMINS = []
    with pytest.raises(CommandError, match="settings.ADMINS is empty"):
        run("ses_sendtestemail", "--admins")
    assert fake_ses.requests == []


def test_sendtestemail_needs_recipients(fake_ses):
    with pytest.raises(CommandError, match="You must specify some email recipients"):
        run("ses_sendtestemail")
    with pytest.raises(CommandError, match="You must specify some email recipients"):
        run("ses_sendtestemail", "--dry-run")


def test_sendtestemail_from_subject_body_html(fake_ses, addresses):
    run(
        "ses_sendtestemail", "to@example.com",
        "--from", "Ops <ops@example.com>", "--subject", "Ping", "--body", "Plain words",
        "--html", "<p>Rich <b>words</b></p>",
    )
    params = fake_ses.sent[0].params
    assert params["Source"] == "Ops <ops@example.com>"
    assert params["Message.Subject.Data"] == "Ping"
    assert params["Message.Body.Text.Data"] == "Plain words"
    assert params["Message.Body.Html.Data"] == "<p>Rich <b>words</b></p>"


def test_sendtestemail_attachments_make_a_raw_send(fake_ses, addresses, tmp_path):
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    out = run("ses_sendtestemail", "to@example.com", "--attach", str(report), "--attach", str(logo))

    [request] = fake_ses.sent
    assert request.action == "SendRawEmail"
    mime = base64.b64decode(request.params["RawMessage.Data"])
    assert b'filename="report.csv"' in mime and b'filename="logo.png"' in mime
    assert base64.b64encode(b"\x89PNG\r\n\x1a\nfake") in mime
    assert EmailLog.objects.get().action == "SendRawEmail"
    assert request.message_id in out


def test_sendtestemail_missing_attachment(fake_ses, addresses, tmp_path):
    with pytest.raises(CommandError, match=r"Cannot attach .*missing\.txt"):
        run("ses_sendtestemail", "to@example.com", "--attach", str(tmp_path / "missing.txt"))
    assert fake_ses.requests == []


def test_sendtestemail_failure_is_one_line_with_the_ses_error(fake_ses, addresses):
    fake_ses.enqueue(error("MessageRejected"))
    with pytest.raises(CommandError) as raised:
        run("ses_sendtestemail", "to@example.com")
    text = str(raised.value)
    assert "\n" not in text
    assert text.startswith("MessageRejected: Email address is not verified.")
    assert EmailLog.objects.get().status == "failed"


@pytest.mark.django_db(databases=["default", "sendlog"])  # system checks
def test_sendtestemail_failure_from_the_command_line(fake_ses, addresses, capsys):
    fake_ses.enqueue(error("SignatureDoesNotMatch"))
    status, out, err = run_like_manage_py(capsys, "ses_sendtestemail", "to@example.com")
    assert status == 1
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("CommandError: SignatureDoesNotMatch: ")
    assert "MessageId" not in out


@pytest.mark.django_db(databases=["default", "sendlog"])  # system checks
def test_sendtestemail_success_from_the_command_line(fake_ses, addresses, capsys):
    status, out, err = run_like_manage_py(capsys, "ses_sendtestemail", "to@example.com")
    assert status == 0 and err == ""
    assert fake_ses.sent[0].message_id in out


def test_sendtestemail_invalid_address_is_reported_not_sent(fake_ses, addresses):
    with pytest.raises(CommandError, match="^InvalidAddress: "):
        run("ses_sendtestemail", "not an address")
    assert fake_ses.requests == []


def test_sendtestemail_with_log_off(fake_ses, addresses, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "LOG": False}
    out = run("ses_sendtestemail", "to@example.com")
    assert fake_ses.sent[0].message_id in out
    assert "Log row:   none (the send log is off" in out
    assert not EmailLog.objects.exists()


def test_sendtestemail_cancelled_by_pre_send(fake_ses, addresses):
    def cancel(sender, message, **kwargs):
        raise CancelSend

    pre_send.connect(cancel)
    try:
        with pytest.raises(CommandError, match="cancelled by a pre_send receiver"):
            run("ses_sendtestemail", "to@example.com")
    finally:
        pre_send.disconnect(cancel)
    assert fake_ses.requests == []


def test_sendtestemail_dry_run_prints_the_request_and_sends_nothing(fake_ses, addresses):
    out = run("ses_sendtestemail", "to@example.com", "--subject", "Dry", "--body", "line one\nline two", "--dry-run")

    assert fake_ses.requests == [] and not EmailLog.objects.exists()
    assert "Action:   SendEmail" in out
    assert f"Endpoint: POST {fake_ses.endpoint_url}/" in out
    assert "  Source = noreply@example.com" in out
    assert "  Destination.ToAddresses.member.1 = to@example.com" in out
    assert "  Message.Subject.Data = Dry" in out
    assert "  Message.Body.Text.Data = line one\\nline two" in out
    assert re.search(r"  X-Amz-Date: \d{8}T\d{6}Z", out)
    assert "Credential=AKIDEXAMPLE/" in out
    assert "Signature=<redacted>" in out
    assert not re.search(r"Signature=[0-9a-f]{64}", out)
    assert SECRET not in out


def test_sendtestemail_dry_run_redacts_the_session_token(fake_ses, addresses, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "SESSION_TOKEN": "FQoGZXIvYXdzEXAMPLETOKEN"}
    out = run("ses_sendtestemail", "to@example.com", "--dry-run")
    assert "X-Amz-Security-Token: <redacted>" in out
    assert "FQoGZXIvYXdzEXAMPLETOKEN" not in out and SECRET not in out
    assert fake_ses.requests == []


def test_sendtestemail_dry_run_abbreviates_raw_message(fake_ses, addresses, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 200)
    out = run("ses_sendtestemail", "to@example.com", "--attach", str(big), "--dry-run")
    assert "Action:   SendRawEmail" in out
    [line] = [line for line in out.splitlines() if "RawMessage.Data = " in line]
    assert len(line) < 200 and re.search(r"… \(\d+ characters\)$", line)
    assert "  Destinations.member.1 = to@example.com" in out
    assert fake_ses.requests == []


def test_sendtestemail_dry_run_without_credentials(fake_ses, addresses, settings, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    settings.SES_QUERY = {k: v for k, v in settings.SES_QUERY.items() if k not in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY")}
    with pytest.raises(CommandError, match="^MissingCredentials: "):
        run("ses_sendtestemail", "to@example.com", "--dry-run")


@pytest.mark.skipif(not MAILERS, reason="MAILERS and --using are Django 6.1's")
def test_sendtestemail_using_a_mailer(fake_ses, addresses, settings):
    settings.MAILERS = {
        "default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"},
        "ses": {
            "BACKEND": "django_ses_query.backend.EmailBackend",
            "OPTIONS": {"endpoint_url": fake_ses.endpoint_url, "configuration_set": "via-mailer"},
        },
    }
    out = run("ses_sendtestemail", "to@example.com", "--using", "ses")
    [request] = fake_ses.sent
    assert request.params["ConfigurationSetName"] == "via-mailer"
    assert request.message_id in out

    with pytest.raises(CommandError, match="not django_ses_query.backend.EmailBackend"):
        run("ses_sendtestemail", "to@example.com", "--using", "default")
    with pytest.raises(CommandError, match="nope"):
        run("ses_sendtestemail", "to@example.com", "--using", "nope")
    assert len(fake_ses.requests) == 1


@pytest.mark.skipif(MAILERS, reason="before Django 6.1 there is no --using")
def test_sendtestemail_has_no_using_before_mailers(fake_ses, addresses):
    with pytest.raises(CommandError, match="--using"):
        run("ses_sendtestemail", "to@example.com", "--using", "ses")


# -- ses_quota ---------------------------------------------------------------------


def statistics_xml(*points: tuple[datetime.datetime, int, int, int, int]) -> bytes:
    members = "".join(
        "<member>"
        f"<DeliveryAttempts>{attempts}</DeliveryAttempts>"
        f"<Timestamp>{moment.strftime('%Y-%m-%dT%H:%M:%SZ')}</Timestamp>"
        f"<Rejects>{rejects}</Rejects><Bounces>{bounces}</Bounces><Complaints>{complaints}</Complaints>"
        "</member>"
        for moment, attempts, bounces, complaints, rejects in points
    )
    return (
        '<GetSendStatisticsResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
        f"<GetSendStatisticsResult><SendDataPoints>{members}</SendDataPoints></GetSendStatisticsResult>"
        "<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></GetSendStatisticsResponse>"
    ).encode()


def quota_xml(max_24h: str, sent: str, rate: str) -> bytes:
    return (
        '<GetSendQuotaResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><GetSendQuotaResult>'
        f"<SentLast24Hours>{sent}</SentLast24Hours><Max24HourSend>{max_24h}</Max24HourSend>"
        f"<MaxSendRate>{rate}</MaxSendRate></GetSendQuotaResult>"
        "<ResponseMetadata><RequestId>r-0</RequestId></ResponseMetadata></GetSendQuotaResponse>"
    ).encode()


def test_quota_summarises_the_last_24_hours(fake_ses):
    now = datetime.datetime.now(datetime.timezone.utc)
    fake_ses.enqueue(
        ok(),  # the canned GetSendQuota: 127 of 200, 1 per second
        xml(200, statistics_xml(
            (now - datetime.timedelta(minutes=20), 150, 6, 1, 0),
            (now - datetime.timedelta(hours=23), 50, 4, 0, 2),
            (now - datetime.timedelta(hours=25), 1000, 900, 90, 9),  # too old
        )),
    )
    out = run("ses_quota")

    assert [r.action for r in fake_ses.requests] == ["GetSendQuota", "GetSendStatistics"]
    assert "Sent in the last 24 hours: 127 of 200 (63.5%), 73 left" in out
    assert "Maximum send rate:         1 message per second" in out
    assert "2 of 3 data points" in out
    assert "Delivery attempts: 200" in out
    assert re.search(r"Bounces: +10 \(5\.00%\) \(SES may review an account at 5% or more\)", out)
    assert re.search(r"Complaints: +1 \(0\.50%\) \(SES may review an account at 0\.1% or more\)", out)
    assert re.search(r"Rejects: +2 \(1\.00%\)$", out, re.MULTILINE)


def test_quota_with_no_recent_sending(fake_ses):
    # The canned GetSendStatistics answer's data points are from 2011.
    out = run("ses_quota")
    assert "0 of 2 data points" in out
    assert "Delivery attempts: 0" in out
    assert re.search(r"Bounces: +0$", out, re.MULTILINE)


def test_quota_unlimited_and_fractional_rate(fake_ses):
    fake_ses.enqueue(xml(200, quota_xml("-1.0", "12345.0", "14.5")), xml(200, statistics_xml()))
    out = run("ses_quota")
    assert "Sent in the last 24 hours: 12,345 (no daily quota)" in out
    assert "Maximum send rate:         14.50 messages per second" in out
    assert "0 of 0 data points" in out


@pytest.mark.parametrize("failing_call", [0, 1])
def test_quota_error_is_a_command_error(fake_ses, failing_call):
    fake_ses.enqueue(*[ok()] * failing_call, error("AccessDenied"))
    with pytest.raises(CommandError) as raised:
        run("ses_quota")
    assert str(raised.value).startswith("AccessDenied: ")
    assert "\n" not in str(raised.value)
    assert len(fake_ses.requests) == failing_call + 1


@pytest.mark.django_db(databases=["default", "sendlog"])  # system checks
def test_quota_error_from_the_command_line(fake_ses, capsys):
    fake_ses.enqueue(error("InvalidClientTokenId"))
    status, out, err = run_like_manage_py(capsys, "ses_quota")
    assert status == 1 and "Traceback" not in err
    assert err.strip().startswith("CommandError: InvalidClientTokenId: ")


@pytest.mark.skipif(not MAILERS, reason="MAILERS and --using are Django 6.1's")
def test_quota_using_a_mailer(fake_ses, settings):
    settings.MAILERS = {
        "ses": {"BACKEND": "django_ses_query.backend.EmailBackend", "OPTIONS": {"endpoint_url": fake_ses.endpoint_url, "region": "eu-west-1"}},
    }
    out = run("ses_quota", "--using", "ses")
    assert "(eu-west-1, " in out
    assert "/eu-west-1/ses/aws4_request" in fake_ses.requests[0].headers["Authorization"]


@pytest.mark.skipif(not MAILERS, reason="MAILERS and --using are Django 6.1's")
@pytest.mark.parametrize("log", [False, True])
def test_sendtestemail_reports_a_rejection_through_a_silent_mailer(fake_ses, addresses, settings, log):
    """fail_silently in the MAILERS entry, with or without the send log: the
    command still says what SES answered, never "cancelled"."""
    settings.MAILERS = {
        "ses": {
            "BACKEND": "django_ses_query.backend.EmailBackend",
            "OPTIONS": {"endpoint_url": fake_ses.endpoint_url, "fail_silently": True, "log": log},
        },
    }
    fake_ses.enqueue(error("MessageRejected"))
    with pytest.raises(CommandError) as caught:
        run("ses_sendtestemail", "to@example.com", "--using", "ses")
    assert str(caught.value).startswith("MessageRejected: ")
    assert "cancelled" not in str(caught.value)
    assert EmailLog.objects.count() == (1 if log else 0)


@pytest.mark.skipif(not MAILERS, reason="MAILERS and --using are Django 6.1's")
def test_sendtestemail_reports_a_cancellation_through_a_silent_mailer(fake_ses, addresses, settings):
    settings.MAILERS = {
        "ses": {
            "BACKEND": "django_ses_query.backend.EmailBackend",
            "OPTIONS": {"endpoint_url": fake_ses.endpoint_url, "fail_silently": True, "log": False},
        },
    }

    def cancel(sender, message, **kwargs):
        raise CancelSend

    pre_send.connect(cancel)
    try:
        with pytest.raises(CommandError, match="cancelled by a pre_send receiver"):
            run("ses_sendtestemail", "to@example.com", "--using", "ses")
    finally:
        pre_send.disconnect(cancel)
    assert fake_ses.requests == []


# -- ses_prunelog ------------------------------------------------------------------


def make_rows(days_ago: list[float], using="default") -> list[EmailLog]:
    now = timezone.now()
    rows = []
    for days in days_ago:
        row = EmailLog.objects.using(using).create(status="sent", subject=f"{days} days")
        EmailLog.objects.using(using).filter(pk=row.pk).update(created_at=now - datetime.timedelta(days=days))
        rows.append(row)
    return rows


def test_prunelog_deletes_rows_older_than_n_days():
    make_rows([400, 40, 30.1, 29.9, 1, 0])
    out = run("ses_prunelog", "--days", "30")
    assert out.startswith("Deleted 3 log rows older than 30 days (created before ")
    assert sorted(EmailLog.objects.values_list("subject", flat=True)) == ["0 days", "1 days", "29.9 days"]


def test_prunelog_dry_run_only_counts():
    make_rows([40, 35, 1])
    out = run("ses_prunelog", "--days", "30", "--dry-run")
    assert out.startswith("Dry run: 2 log rows older than 30 days")
    assert "would be deleted" in out
    assert EmailLog.objects.count() == 3


def test_prunelog_nothing_to_delete():
    make_rows([1])
    assert run("ses_prunelog", "--days", "7").startswith("Deleted 0 log rows older than 7 days")
    assert EmailLog.objects.count() == 1


def test_prunelog_deletes_in_batches():
    make_rows([10] * 5 + [1])
    with CaptureQueriesContext(connection) as queries:
        out = run("ses_prunelog", "--days", "5", "--batch-size", "2", "--verbosity", "2")
    deletes = [q["sql"] for q in queries if q["sql"].upper().startswith("DELETE")]
    assert len(deletes) == 3
    assert "Deleted 5 log rows" in out
    assert [line.strip() for line in out.splitlines()[:3]] == [
        "deleted 2 (2 so far)", "deleted 2 (4 so far)", "deleted 1 (5 so far)",
    ]
    assert EmailLog.objects.count() == 1


def test_prunelog_default_batches_of_1000():
    EmailLog.objects.bulk_create(EmailLog(status="sent") for _ in range(2100))
    EmailLog.objects.update(created_at=timezone.now() - datetime.timedelta(days=100))
    with CaptureQueriesContext(connection) as queries:
        out = run("ses_prunelog", "--days", "90")
    deletes = [q["sql"] for q in queries if q["sql"].upper().startswith("DELETE")]
    assert len(deletes) == 3
    assert "Deleted 2100 log rows" in out and not EmailLog.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "-1"], "--days must be 0 or more"),
        (["--days", "1", "--batch-size", "0"], "--batch-size must be 1 or more"),
        ([], "--days"),
        (["--days", "1", "--database", "nope"], "no database 'nope'"),
    ],
)
def test_prunelog_bad_arguments(args, message):
    make_rows([100])
    with pytest.raises(CommandError, match=message):
        run("ses_prunelog", *args)
    assert EmailLog.objects.count() == 1


@pytest.mark.django_db(databases=["default", "sendlog"], transaction=True)
def test_prunelog_uses_the_log_database(settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "LOG_DATABASE": "sendlog"}
    make_rows([50, 2], using="sendlog")
    with CaptureQueriesContext(connections["sendlog"]) as queries:
        out = run("ses_prunelog", "--days", "10")
    assert "Deleted 1 log row older than 10 days" in out
    assert any(q["sql"].upper().startswith("DELETE") for q in queries)
    assert list(EmailLog.objects.using("sendlog").values_list("subject", flat=True)) == ["2 days"]


def _age(event, days):
    from django_ses_query.models import EmailEvent

    EmailEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - datetime.timedelta(days=days))


def test_prunelog_deletes_events_with_their_rows_and_keeps_what_they_caused():
    from django_ses_query.models import EmailEvent, Suppression

    old, new = make_rows([20, 1])
    resend = EmailLog.objects.create(status="sent", resent_from=old)
    bounce = EmailEvent.objects.create(log=old, message_id="m-old", event_type="bounce", recipient="a@example.com")
    _age(bounce, 20)  # Older than EVENT_MAX_AGE_DAYS (14).
    EmailEvent.objects.create(log=new, message_id="m-new", event_type="delivery", recipient="b@example.com")
    orphan = EmailEvent.objects.create(message_id="m-unknown", event_type="delivery")
    _age(orphan, 20)
    Suppression.objects.create(address="A@example.com", reason="bounce", event=bounce)

    out = run("ses_prunelog", "--days", "5")

    assert "Deleted 1 log row " in out
    assert set(EmailLog.objects.values_list("pk", flat=True)) == {new.pk, resend.pk}
    assert list(EmailEvent.objects.values_list("message_id", flat=True)) == ["m-new"]
    resend.refresh_from_db()
    assert resend.resent_from is None
    suppression = Suppression.objects.get()
    assert suppression.address == "a@example.com" and suppression.event is None


@pytest.mark.parametrize("max_age, kept", [(14, ["m-young", "m-young-orphan"]), (30, ["m-15", "m-young",
                                                                                       "m-young-orphan"]),
                                           (None, [])])
def test_prunelog_keeps_events_younger_than_event_max_age_days(settings, max_age, kept):
    """The once-only memory of SNS MessageIds covers every notification
    still young enough to be accepted: those events are detached, not
    deleted."""
    from django_ses_query.models import EmailEvent

    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_MAX_AGE_DAYS": max_age}
    (old,) = make_rows([40])
    for message_id, days, log in [("m-young", 10, old), ("m-15", 15, old), ("m-old", 39, old),
                                  ("m-young-orphan", 10, None), ("m-old-orphan", 39, None)]:
        _age(EmailEvent.objects.create(log=log, message_id=message_id, event_type="delivery",
                                       sns_message_id=f"sns-{message_id}"), days)

    out = run("ses_prunelog", "--days", "5")

    assert "Deleted 1 log row " in out
    assert not EmailLog.objects.exists()
    assert sorted(EmailEvent.objects.values_list("message_id", flat=True)) == kept
    assert not EmailEvent.objects.filter(log__isnull=False).exists()
    detached = len([k for k in kept if "orphan" not in k])
    assert (f"Kept {detached} SES event" in out) == bool(detached)
