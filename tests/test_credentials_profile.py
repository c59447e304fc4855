"""The shared files (~/.aws/credentials and ~/.aws/config) written in
temporary directories, credential_process, and the profile's region."""

from __future__ import annotations

import json
import logging
import stat
import sys

import pytest
from django.views.debug import ExceptionReporter

from django_ses_query.backend import EmailBackend
from django_ses_query.conf import get_config
from django_ses_query.exceptions import SESConfigurationError
from django_ses_query.models import EmailLog
from tests.fakeaws import clock, issuer, iso, send, ses  # noqa: F401 (fixtures)

MINUTE = 60


@pytest.fixture
def aws_files(tmp_path, monkeypatch):
    """Write the two files; the environment points at them."""
    credentials, config = tmp_path / "credentials", tmp_path / "config"
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))

    def write(credentials_text: str = "", config_text: str = ""):
        credentials.write_text(credentials_text)
        config.write_text(config_text)

    return write


def keys(issued) -> str:
    return f"aws_access_key_id = {issued.access_key_id}\naws_secret_access_key = {issued.secret_access_key}\n"


def test_default_profile_from_the_credentials_file(aws_files, issuer, ses):
    long_term = issuer.issue(temporary=False)
    aws_files(f"[default]\n{keys(long_term)}")
    backend = EmailBackend()
    assert send(backend) == 1
    assert ses.sent == [long_term.access_key_id]
    assert backend.client.credentials_provider.source == "shared-credentials-file (profile 'default')"


def test_aws_profile_selects_a_profile_and_the_config_file_section_is_profile_name(aws_files, issuer, ses, monkeypatch):
    wrong, right = issuer.issue(temporary=False), issuer.issue(temporary=False)
    aws_files("", f"[default]\n{keys(wrong)}\n[profile mail]\n{keys(right)}\n[mail]\nregion = ignored\n")
    monkeypatch.setenv("AWS_PROFILE", "mail")
    backend = EmailBackend()
    assert send(backend) == 1
    assert ses.sent == [right.access_key_id]
    assert backend.client.credentials_provider.source == "config-file (profile 'mail')"


def test_credentials_file_wins_over_config_file_and_session_token(aws_files, issuer, ses):
    temporary, other = issuer.issue(), issuer.issue(temporary=False)
    aws_files(
        f"[default]\n{keys(temporary)}aws_session_token = {temporary.session_token}\n",
        f"[default]\n{keys(other)}",
    )
    assert send() == 1
    assert ses.sent == [temporary.access_key_id]


def test_settings_profile_skips_the_environment(aws_files, issuer, ses, monkeypatch):
    from_file, from_env = issuer.issue(temporary=False), issuer.issue(temporary=False)
    aws_files(f"[mail]\n{keys(from_file)}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", from_env.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", from_env.secret_access_key)
    assert send() == 1
    assert send(EmailBackend(profile="mail")) == 1
    assert ses.sent == [from_env.access_key_id, from_file.access_key_id]


@pytest.mark.parametrize("how", ["setting", "AWS_PROFILE"])
def test_a_named_profile_that_does_not_exist_is_a_configuration_error(how, aws_files, issuer, ses, monkeypatch, settings):
    aws_files(f"[default]\n{keys(issuer.issue(temporary=False))}")
    if how == "setting":
        settings.SES_QUERY = {**settings.SES_QUERY, "PROFILE": "typo"}
    else:
        monkeypatch.setenv("AWS_PROFILE", "typo")
    with pytest.raises(SESConfigurationError) as caught:
        send()
    assert caught.value.code == "ProfileNotFound"
    assert "'typo'" in caught.value.message
    assert ses.requests() == []


def test_a_file_that_does_not_parse_names_the_line_not_its_content(aws_files, ses):
    aws_files("aws_secret_access_key = leaked-if-shown\n[default]\n")
    with pytest.raises(SESConfigurationError) as caught:
        send()
    assert caught.value.code == "InvalidProfile"
    assert "line 1" in caught.value.message and "leaked-if-shown" not in str(caught.value)


# -- credential_process -------------------------------------------------------------


@pytest.fixture
def process(tmp_path, issuer):
    """A credential_process script printing the next issued credentials, and
    counting its runs in a file."""
    script = tmp_path / "issue credentials.py"  # A space: run without a shell.
    answers = tmp_path / "answers"
    answers.mkdir()

    def answer(data=None, *, exit_status=0, stderr=""):
        if data is None:
            issued = issuer.issue()
            data = {"Version": 1, "AccessKeyId": issued.access_key_id, "SecretAccessKey": issued.secret_access_key,
                    "SessionToken": issued.session_token, "Expiration": iso(issued.expiration)}
        number = len(list(answers.iterdir()))
        (answers / f"{number:03d}.json").write_text(json.dumps({"data": data, "exit": exit_status, "stderr": stderr}))

    script.write_text(
        "import json, os, sys\n"
        f"answers = {str(answers)!r}\n"
        "done = os.path.join(answers, 'done')\n"
        "runs = int(open(done).read()) if os.path.exists(done) else 0\n"
        "open(done, 'w').write(str(runs + 1))\n"
        "name = sorted(n for n in os.listdir(answers) if n.endswith('.json'))[runs]\n"
        "answer = json.load(open(os.path.join(answers, name)))\n"
        "sys.stderr.write(answer['stderr'])\n"
        "print(json.dumps(answer['data']))\n"
        "sys.exit(answer['exit'])\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    answer.command = f'"{sys.executable}" "{script}" --profile mail'
    return answer


def test_credential_process_with_expiration_is_run_again_before_expiry(aws_files, process, issuer, ses, clock):
    aws_files("", f"[default]\ncredential_process = {process.command}\n")
    process()
    process()
    backend = EmailBackend()
    assert send(backend) == 1
    clock.advance(50 * MINUTE)
    assert send(backend) == 1
    assert ses.sent == [c.access_key_id for c in issuer.issued] and len(ses.sent) == 2
    assert backend.client.credentials_provider.source == "credential_process (profile 'default')"


def test_credential_process_failures_are_clear(aws_files, process, ses):
    aws_files("", f"[default]\ncredential_process = {process.command}\n")
    process({"Version": 1, "AccessKeyId": "ASIAX"}, exit_status=3, stderr="SSO session expired; run aws sso login\n")
    with pytest.raises(SESConfigurationError, match="exited with status 3: SSO session expired; run aws sso login"):
        send()
    process({"Version": 2, "AccessKeyId": "ASIAX", "SecretAccessKey": "s"})
    with pytest.raises(SESConfigurationError, match='without "Version": 1'):
        send()
    process({"Version": 1, "AccessKeyId": "ASIAX", "SecretAccessKey": "shh", "Expiration": "tomorrow"})
    with pytest.raises(SESConfigurationError, match="Expiration that is not an ISO 8601 time") as caught:
        send()
    assert "shh" not in str(caught.value)


# What a failing helper might print on stderr (module constants: not in a
# test frame's variables, which Django's error report shows).
ECHOED_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRETKEY"
ECHOED_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE+TOKEN/0123456789abcdefSESSION=="
ECHOING_STDERR = (
    "cached credentials:\n"
    + json.dumps({"Version": 1, "AccessKeyId": "ASIAECHOEDEXAMPLE", "SecretAccessKey": ECHOED_SECRET,
                  "SessionToken": ECHOED_TOKEN, "Expiration": "2026-01-01T00:00:00Z"}, indent=2)
    + "\naws_session_token = short-tok\npassword: hunter2\nsigned blob " + "Zm9v" * 12 + "\n"
    "SSO session expired; run aws sso login\n"
)
HIDDEN = (ECHOED_SECRET, ECHOED_TOKEN, ECHOED_SECRET[:20], ECHOED_TOKEN[:20], "short-tok", "hunter2", "Zm9v" * 12)


@pytest.mark.django_db(databases=["default", "sendlog"])
def test_a_failing_credential_process_echoing_secrets_on_stderr_is_redacted(aws_files, process, ses, settings, caplog):
    """The helper's stderr is redacted before it reaches the exception, any
    log line (DEBUG too), the send log row or Django's error report."""
    settings.SES_QUERY = {**settings.SES_QUERY, "LOG": True}
    aws_files("", f"[default]\ncredential_process = {process.command}\n")
    process(exit_status=3, stderr=ECHOING_STDERR)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(SESConfigurationError) as caught:
            send()
    error = caught.value
    exc_info = (type(error), error, error.__traceback__)
    shown = {
        "str": str(error), "repr": repr(error), "log": caplog.text,
        "error_message": EmailLog.objects.get().error_message,
        "report": ExceptionReporter(None, *exc_info).get_traceback_text(),
        "report_html": ExceptionReporter(None, *exc_info).get_traceback_html(),
    }
    for where, text in shown.items():
        for value in HIDDEN:
            assert value not in text, where
    assert "<redacted>" in error.message
    assert "credential_process of profile 'default'" in error.message
    assert "exited with status 3: " in error.message
    assert error.message.endswith("password: <redacted> signed blob <redacted> SSO session expired; run aws sso login")


def test_what_a_failing_credential_process_printed_is_not_in_an_error_report(process):
    """Called outside the send path too (checks, commands): the report's
    variables of the frame that ran it are hidden."""
    from django_ses_query.credentials.profile import run_credential_process

    process(exit_status=3, stderr=ECHOING_STDERR)
    with pytest.raises(SESConfigurationError) as caught:
        run_credential_process(process.command, "credential_process of profile 'default'")
    error = caught.value
    html = ExceptionReporter(None, type(error), error, error.__traceback__).get_traceback_html()
    assert "run_credential_process" in html
    for value in HIDDEN:
        assert value not in html


def test_credential_process_not_found(aws_files, ses):
    aws_files("", "[default]\ncredential_process = /nonexistent/aws-vault exec mail\n")
    with pytest.raises(SESConfigurationError, match="'/nonexistent/aws-vault' was not found"):
        send()


# -- region -----------------------------------------------------------------------


def test_the_profiles_region_is_used_when_no_other_region_is_set(aws_files, monkeypatch, settings):
    aws_files("", "[default]\nregion = eu-central-1\n[profile tokyo]\nregion = ap-northeast-1\n")
    settings.SES_QUERY = {}
    assert get_config().region == "eu-central-1"
    assert get_config().endpoint_url == "https://email.eu-central-1.amazonaws.com"
    assert get_config(profile="tokyo").region == "ap-northeast-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert get_config().region == "us-west-2"
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert get_config().region == "eu-west-1"
    assert get_config(region="sa-east-1").region == "sa-east-1"


def test_without_files_the_region_is_the_default(settings):
    settings.SES_QUERY = {}
    assert get_config().region == "us-east-1"


# -- profile roles that cannot work (refused before any STS call) -------------------


@pytest.mark.parametrize(
    "config, expected",
    [
        ("[default]\nrole_arn = arn:aws:iam::1:role/r\n", "has role_arn but no source_profile or credential_source"),
        ("[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = a\ncredential_source = Environment\n",
         "has both source_profile and credential_source"),
        ("[default]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Laptop\n",
         "credential_source 'Laptop' is not one of Environment, Ec2InstanceMetadata, EcsContainer"),
        ("[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = a\n"
         "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
         "[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = a\n",
         "AWS profiles loop through source_profile: default -> a -> b -> a"),
        ("[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = missing\n",
         "The AWS profile 'missing' is not in"),
    ],
)
def test_profile_roles_that_cannot_work(config, expected, aws_files, ses, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9/")  # Never reached.
    aws_files("", config)
    with pytest.raises(SESConfigurationError) as caught:
        send()
    assert expected in caught.value.message
    assert ses.requests() == []


def test_role_arn_setting_with_nothing_underneath(ses, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "ROLE_ARN": "arn:aws:iam::1:role/r"}
    with pytest.raises(SESConfigurationError) as caught:
        send()
    assert caught.value.code == "MissingCredentials"
