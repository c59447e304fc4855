"""``manage.py ses_check`` against moto's SES server (signature checks on),
and ``ses_sendtestemail --simulate``."""

from __future__ import annotations

import json
import re
from io import StringIO

import django
import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.moto_ses import ACCOUNT_ID, IAM_VERSION, xml_text

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SENDER = "sender@example.com"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT_ID}:ses-events"


@pytest.fixture
def ses(moto_ses, settings):
    moto_ses.reset_ses()
    moto_ses.verify_email_identity(SENDER)
    settings.DEFAULT_FROM_EMAIL = f"Example <{SENDER}>"
    settings.SERVER_EMAIL = SENDER
    settings.ADMINS = []
    settings.MANAGERS = []
    settings.SES_QUERY = {
        "ACCESS_KEY_ID": moto_ses.access_key_id,
        "SECRET_ACCESS_KEY": moto_ses.secret_access_key,
        "ENDPOINT_URL": moto_ses.endpoint_url,
        "REGION": moto_ses.region,
        "MAX_RETRIES": 0,
    }
    return moto_ses


def check(*args) -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("ses_check", *args, stdout=out, stderr=StringIO())
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def finding(out: str, status: str, check_name: str) -> list[str]:
    """The findings with this status and check: each message with its fix."""
    found = []
    lines = out.splitlines()
    for index, line in enumerate(lines):
        if re.match(rf"\[{status}\s*\] {re.escape(check_name)}: ", line):
            fix = lines[index + 1].strip() if index + 1 < len(lines) and lines[index + 1].strip().startswith("fix:") else ""
            found.append(f"{line} | {fix}")
    return found


def ses_call(moto_ses, **params) -> None:
    response = moto_ses.signed_post({**params, "Version": "2010-12-01"})
    assert response.status_code == 200, response.text


def test_sandbox_and_missing_configuration_set(ses, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "CONFIGURATION_SET": "missing-set"}
    out, error = check()
    [account] = finding(out, "OK", "Account")
    assert f"Account {ACCOUNT_ID}, arn:aws:iam::{ACCOUNT_ID}:user/ses-sender" in account
    assert "from settings" in out and ses.secret_access_key not in out
    [sandbox] = finding(out, "WARNING", "Sandbox")
    assert "SES sandbox (200 messages per 24 hours, 1 per second)" in sandbox
    assert "fix: Request production access" in sandbox
    [sender] = finding(out, "OK", "Sender")
    assert f"DEFAULT_FROM_EMAIL {SENDER}: verified" in sender
    [missing] = finding(out, "ERROR", "Configuration set")
    assert "'missing-set' does not exist" in missing and "fix: Create it" in missing
    assert error is not None and "Sending cannot work: 1 problem" in str(error)


def test_unverified_sender_exits_non_zero(ses, settings):
    settings.DEFAULT_FROM_EMAIL = "nobody@unverified.example"
    out, error = check()
    [sender] = finding(out, "ERROR", "Sender")
    assert "DEFAULT_FROM_EMAIL nobody@unverified.example: unverified" in sender
    assert "fix: Verify it in us-east-1" in sender
    assert error is not None


@pytest.mark.django_db(databases=["default", "sendlog"])  # system checks
def test_exit_status_as_manage_py(ses, settings, capsys):
    from django.core.management import ManagementUtility

    settings.DEFAULT_FROM_EMAIL = "nobody@unverified.example"
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "ses_check"]).execute()
    captured = capsys.readouterr()
    assert exited.value.code == 1
    assert "[ERROR  ] Sender: DEFAULT_FROM_EMAIL nobody@unverified.example" in captured.out
    assert "CommandError: Sending cannot work: 1 problem" in captured.err
    assert "Traceback" not in captured.err


def test_unverified_server_email_matters_only_with_admins(ses, settings):
    settings.SERVER_EMAIL = "root@localhost"
    out, error = check()
    assert finding(out, "WARNING", "Sender") and error is None
    settings.ADMINS = [("Admin", "admin@example.com")]
    out, error = check()
    [sender] = finding(out, "ERROR", "Sender")
    assert "SERVER_EMAIL root@localhost" in sender
    assert error is not None


def test_everything_in_place(ses, settings):
    ses_call(ses, Action="CreateConfigurationSet", **{"ConfigurationSet.Name": "tracked"})
    settings.SES_QUERY = {**settings.SES_QUERY, "CONFIGURATION_SET": "tracked", "EVENT_TOPIC_ARNS": [TOPIC]}
    out, error = check()
    assert error is None, out
    assert finding(out, "OK", "Configuration set") == ["[OK     ] Configuration set: tracked exists (0 SNS event destinations). | "]
    assert "No problem found that stops sending (" in out
    assert "[INFO   ] Sending: Not tried: to prove ses:SendEmail and ses:SendRawEmail, run manage.py ses_sendtestemail --simulate success" in out
    assert ses.sent_messages() == []


SES_NS = 'xmlns="http://ses.amazonaws.com/doc/2010-12-01/"'


def ses_answer(action: str, result: str) -> str:
    return (
        f"<{action}Response {SES_NS}><{action}Result>{result}</{action}Result>"
        f"<ResponseMetadata><RequestId>d5964849-c866-11e0-9beb-01a62d68c57f</RequestId></ResponseMetadata></{action}Response>"
    )


def identity_answers(topic: str) -> list:
    """What SES answers for SENDER with bounce and complaint topics set
    (the shapes of the SES API reference), in ses_check's order."""
    from tests.fakeses import response_file, xml

    entry = f"<entry><key>{SENDER}</key><value>{{}}</value></entry>"
    return [
        xml(200, (
            '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
            f"<Arn>arn:aws:iam::{ACCOUNT_ID}:user/ses-sender</Arn><UserId>AIDAEXAMPLE</UserId><Account>{ACCOUNT_ID}</Account>"
            "</GetCallerIdentityResult><ResponseMetadata><RequestId>01234567-89ab</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
        )),
        xml(200, response_file("get_send_quota_ok.xml")),
        xml(200, ses_answer("GetIdentityVerificationAttributes", "<VerificationAttributes>" + entry.format(
            "<VerificationStatus>Success</VerificationStatus>") + "</VerificationAttributes>")),
        xml(200, ses_answer("GetIdentityDkimAttributes", "<DkimAttributes>" + entry.replace(SENDER, "example.com").format(
            "<DkimEnabled>true</DkimEnabled><DkimVerificationStatus>Success</DkimVerificationStatus>"
            "<DkimTokens><member>vvjuipp74whm76gqoni7qmwwn4w4qusjiainivf6sf</member></DkimTokens>") + "</DkimAttributes>")),
        xml(200, ses_answer("GetIdentityNotificationAttributes", "<NotificationAttributes>" + entry.format(
            f"<BounceTopic>{topic}</BounceTopic><ComplaintTopic>{topic}</ComplaintTopic>"
            "<ForwardingEnabled>false</ForwardingEnabled>") + "</NotificationAttributes>")),
    ]


def test_notification_topics_and_event_topic_arns(fake_ses, settings):
    settings.DEFAULT_FROM_EMAIL = settings.SERVER_EMAIL = SENDER
    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_TOPIC_ARNS": [TOPIC]}
    fake_ses.enqueue(*identity_answers(TOPIC))
    out, error = check()
    assert error is None, out
    assert [r.params["Action"] for r in fake_ses.requests] == [
        "GetCallerIdentity", "GetSendQuota", "GetIdentityVerificationAttributes",
        "GetIdentityDkimAttributes", "GetIdentityNotificationAttributes", "DescribeActiveReceiptRuleSet",
        "GetIdentityMailFromDomainAttributes",
    ]
    assert "/sts/aws4_request" in fake_ses.requests[0].headers["Authorization"]
    assert fake_ses.requests[4].params["Identities.member.1"] == SENDER
    [notifications] = finding(out, "OK", "Notifications")
    assert f"bounces → {TOPIC}, complaints → {TOPIC}" in notifications
    assert finding(out, "OK", "DKIM") == ["[OK     ] DKIM: example.com: DKIM signing on. | "]
    assert finding(out, "WARNING", "Notifications") == []

    # A topic the events endpoint would refuse.
    fake_ses.reset()
    fake_ses.enqueue(*identity_answers(TOPIC + "-other"))
    out, error = check()
    mismatches = finding(out, "WARNING", "Notifications")
    assert len(mismatches) == 2
    assert all("is not in EVENT_TOPIC_ARNS" in m and "fix: Add" in m for m in mismatches)


def test_notifications_by_email_only(ses):
    out, _ = check()
    [notifications] = finding(out, "WARNING", "Notifications")
    assert "only by email (feedback forwarding)" in notifications and "fix: Set SNS topics" in notifications


def test_wrong_secret(ses, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "SECRET_ACCESS_KEY": "not-the-secret"}
    out, error = check()
    [account] = finding(out, "ERROR", "Account")
    assert "SignatureDoesNotMatch" in account and "fix: Set SECRET_ACCESS_KEY" in account
    assert "not-the-secret" not in out
    assert error is not None


def test_access_denied_is_reported(ses, settings):
    """A key allowed to send and nothing else: each refused check says so."""
    ses.set_auth(False)
    try:
        ses._checked({"Action": "CreateUser", "UserName": "send-only", "Version": IAM_VERSION}, service="iam")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ses:SendEmail", "ses:SendRawEmail"], "Resource": "*"}]}
        ses._checked(
            {"Action": "PutUserPolicy", "UserName": "send-only", "PolicyName": "send", "PolicyDocument": json.dumps(policy), "Version": IAM_VERSION},
            service="iam",
        )
        body = ses._checked({"Action": "CreateAccessKey", "UserName": "send-only", "Version": IAM_VERSION}, service="iam")
    finally:
        ses.set_auth(True)
    settings.SES_QUERY = {
        **settings.SES_QUERY,
        "ACCESS_KEY_ID": xml_text("AccessKeyId", body),
        "SECRET_ACCESS_KEY": xml_text("SecretAccessKey", body),
    }
    out, error = check()
    [quota] = finding(out, "DENIED", "Quota")
    assert "GetSendQuota: AccessDenied" in quota and "fix: Allow ses:GetSendQuota" in quota
    assert finding(out, "DENIED", "Sender")
    [receiving] = finding(out, "DENIED", "Receiving")
    assert "DescribeActiveReceiptRuleSet: AccessDenied" in receiving
    assert error is None
    assert re.search(r"\d+ checks could not run \(DENIED\)", out)


def test_unreachable_endpoint(settings):
    from tests.fakeses import refused_endpoint

    settings.SES_QUERY = {**settings.SES_QUERY, "ENDPOINT_URL": refused_endpoint()}
    out, error = check()
    [quota] = finding(out, "ERROR", "Quota")
    assert "no answer" in quota and "fix: Check REGION / ENDPOINT_URL" in quota
    assert error is not None


def test_region_mismatch(settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "ENDPOINT_URL": "https://email.eu-west-1.amazonaws.com", "REGION": "us-east-1"}
    out, error = check("--dry-run")
    [region] = finding(out, "ERROR", "Region")
    assert "in eu-west-1 but requests are signed for us-east-1" in region
    assert error is not None


def test_dry_run_signs_without_calling(settings, fake_ses):
    settings.DEFAULT_FROM_EMAIL = SENDER
    out, error = check("--dry-run")
    assert error is None
    assert fake_ses.requests == []
    [signature] = finding(out, "OK", "Signature")
    assert "signed for ses in us-east-1" in signature
    assert re.search(r"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-east-1/ses/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=<redacted>", out)
    assert settings.SES_QUERY["SECRET_ACCESS_KEY"] not in out


def test_no_credentials(settings, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    settings.SES_QUERY = {key: value for key, value in settings.SES_QUERY.items() if "KEY" not in key}
    for args in ((), ("--dry-run",)):
        out, error = check(*args)
        assert finding(out, "ERROR", "Credentials") and error is not None


@pytest.mark.skipif(django.VERSION < (6, 1), reason="MAILERS is Django 6.1's")
def test_using_a_mailers_alias(ses, settings):
    options = {key.lower(): value for key, value in settings.SES_QUERY.items()}
    settings.MAILERS = {"ses": {"BACKEND": "django_ses_query.backend.EmailBackend", "OPTIONS": {**options, "configuration_set": "other-set"}}}
    out, error = check("--using", "ses")
    assert "Amazon SES check (MAILERS['ses'])" in out
    assert "'other-set' does not exist" in out and error is not None


# -- ses_sendtestemail --simulate ----------------------------------------------


def test_simulate_sends_to_the_mailbox_simulator(ses):
    out = StringIO()
    call_command("ses_sendtestemail", "--simulate", "bounce", "--simulate", "complaint", stdout=out, stderr=StringIO())
    [message] = ses.sent_messages()
    assert message["destinations"]["ToAddresses"] == ["bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com"]
    assert "Sent" in out.getvalue()


@pytest.mark.parametrize("kind", ["success", "bounce", "complaint", "ooto", "suppressionlist"])
def test_simulate_addresses(kind, fake_ses, settings):
    settings.DEFAULT_FROM_EMAIL = SENDER
    call_command("ses_sendtestemail", "--simulate", kind, "me@example.com", stdout=StringIO())
    [request] = fake_ses.sent
    assert request.params["Destination.ToAddresses.member.1"] == "me@example.com"
    assert request.params["Destination.ToAddresses.member.2"] == f"{kind}@simulator.amazonses.com"


def test_simulate_refuses_unknown_kinds(fake_ses):
    with pytest.raises(CommandError, match="invalid choice: 'explode'"):
        call_command("ses_sendtestemail", "--simulate", "explode")


# -- Receiving: the active receipt rule set ---------------------------------------------------


def test_receiving_without_an_active_rule_set_is_info(ses):
    out, error = check()
    assert error is None, out
    assert finding(out, "INFO", "Receiving") == [
        f"[INFO   ] Receiving: No active receipt rule set in {ses.region}: no mail is received. | "]


def test_receiving_rules_and_their_topics(ses, settings):
    other = TOPIC + "-receiving"
    ses.set_auth(False)  # The bucket and KMS key the S3 action names, made with checks off.
    try:
        assert requests.put(f"{ses.endpoint_url}/inbound-mail", timeout=10).status_code == 200
        scope = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0"
        key = requests.post(ses.endpoint_url, data="{}", timeout=10, headers={
            "X-Amz-Target": "TrentService.CreateKey", "Content-Type": "application/x-amz-json-1.1",
            "Authorization": scope}).json()["KeyMetadata"]["Arn"]
        ses._checked({"Action": "CreateTopic", "Name": other.rpartition(":")[2], "Version": "2010-03-31"},
                     service="sns")
    finally:
        ses.set_auth(True)
    ses_call(ses, Action="CreateReceiptRuleSet", RuleSetName="inbound")
    ses_call(ses, Action="CreateReceiptRule", RuleSetName="inbound", **{
        "Rule.Name": "replies", "Rule.Enabled": "true", "Rule.ScanEnabled": "true",
        "Rule.Recipients.member.1": "replies@example.com",
        "Rule.Actions.member.1.SNSAction.TopicArn": TOPIC, "Rule.Actions.member.1.SNSAction.Encoding": "Base64",
    })
    ses_call(ses, Action="CreateReceiptRule", RuleSetName="inbound", After="replies", **{
        "Rule.Name": "large", "Rule.Enabled": "true",
        "Rule.Actions.member.1.S3Action.BucketName": "inbound-mail",
        "Rule.Actions.member.1.S3Action.ObjectKeyPrefix": "mail/",
        "Rule.Actions.member.1.S3Action.TopicArn": other,
        "Rule.Actions.member.1.S3Action.KmsKeyArn": key,
    })
    ses_call(ses, Action="SetActiveReceiptRuleSet", RuleSetName="inbound")
    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_TOPIC_ARNS": [TOPIC]}
    out, error = check()
    assert error is None, out
    info = finding(out, "INFO", "Receiving")
    assert info[0] == "[INFO   ] Receiving: Active receipt rule set inbound. | "
    assert info[1] == (
        "[INFO   ] Receiving: rule replies: recipients replies@example.com; scanning on; "
        f"actions: SNS (topic {TOPIC}, encoding Base64). | ")
    assert info[2].startswith("[INFO   ] Receiving: rule large: recipients all verified domains; scanning off; "
                              "actions: S3 (bucket inbound-mail, prefix mail/; topic")
    assert f"KMS key {key}" in info[2]
    assert finding(out, "OK", "Receiving") == [f"[OK     ] Receiving: rule replies: topic {TOPIC} is in EVENT_TOPIC_ARNS. | "]
    warnings = finding(out, "WARNING", "Receiving")
    assert len(warnings) == 2
    assert any("encrypts with KMS" in w and "fix: Remove the KMS key" in w for w in warnings)
    assert any(f"topic {other} is not in EVENT_TOPIC_ARNS: its receipts will be refused" in w
               and f"fix: Add '{other}'" in w for w in warnings)
    assert finding(out, "ERROR", "Receiving") == []


# -- Bulk-sender readiness -------------------------------------------------------------------


def test_mail_from_domain(ses):
    out, _ = check()
    [warning] = finding(out, "WARNING", "MAIL FROM")
    assert "example.com (DEFAULT_FROM_EMAIL): no custom MAIL FROM domain" in warning
    assert "SPF does not align" in warning and "fix: Set a MAIL FROM domain" in warning
    ses_call(ses, Action="SetIdentityMailFromDomain", Identity=SENDER, MailFromDomain="mail.example.com")
    out, _ = check()
    assert finding(out, "OK", "MAIL FROM") == ["[OK     ] MAIL FROM: example.com: custom MAIL FROM domain mail.example.com. | "]


def test_unsubscribe_readiness(settings):
    out, error = check("--dry-run")
    assert finding(out, "INFO", "Unsubscribe") and error is None
    settings.SES_QUERY = {**settings.SES_QUERY, "UNSUBSCRIBE_BASE_URL": "https://example.com"}
    out, _ = check("--dry-run")
    assert finding(out, "OK", "Unsubscribe") == [
        "[OK     ] Unsubscribe: One-click links go to https://example.com/ses/unsubscribe/<token>/. | "
    ]
    settings.SES_QUERY = {**settings.SES_QUERY, "UNSUBSCRIBE_BASE_URL": "http://localhost:8000"}
    out, error = check("--dry-run")
    [http] = finding(out, "WARNING", "Unsubscribe")
    assert "UNSUBSCRIBE_BASE_URL http://localhost:8000 is http" in http and error is None
    settings.ROOT_URLCONF = "tests.urls_without_ses"
    out, error = check("--dry-run")
    [missing] = finding(out, "ERROR", "Unsubscribe")
    assert "fix: Add path('ses/', include('django_ses_query.urls'))" in missing
    assert error is not None
    settings.SES_QUERY = {**settings.SES_QUERY, "UNSUBSCRIBE_BASE_URL": None, "UNSUBSCRIBE_TOPIC": "news"}
    out, error = check("--dry-run")
    assert finding(out, "ERROR", "Unsubscribe") and error is not None


@pytest.mark.parametrize(
    "complained, status", [(None, "INFO"), (0, "OK"), (1, "WARNING"), (2, "WARNING"), (3, "ERROR")]
)
def test_complaint_rate_of_the_last_seven_days(complained, status):
    import datetime

    from django.utils import timezone

    from django_ses_query.models import EmailLog

    old = timezone.now() - datetime.timedelta(days=8)
    count = 99 if complained is None else 1000
    rows = [EmailLog(status="sent", outcome="complained" if i < (complained or 0) else "delivered")
            for i in range(count)]
    rows += [EmailLog(status="sent", outcome="complained") for _ in range(50)]  # older: not counted
    rows += [EmailLog(status="failed") for _ in range(50)]  # not sent: not counted
    EmailLog.objects.bulk_create(rows)
    EmailLog.objects.filter(pk__in=[r.pk for r in rows[count:count + 50]]).update(created_at=old)
    out, error = check("--dry-run")
    [line] = finding(out, status, "Complaint rate")
    if complained is None:
        assert "99 messages sent in the last 7 days: too few to judge" in line
    else:
        assert f"({complained} of 1000 messages sent in the last 7 days)" in line
    assert (error is not None) == (status == "ERROR")
