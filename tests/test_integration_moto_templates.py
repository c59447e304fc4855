"""Stored templates against moto's SES server, signatures checked:
``manage.py ses_templates`` (push creates, then updates; diff; list; show;
render; delete) and sending with a template (SendTemplatedEmail,
SendBulkTemplatedEmail)."""

from __future__ import annotations

import io

import pytest
from django.core.mail import EmailMessage
from django.core.management import CommandError, call_command

from django_ses_query.backend import EmailBackend
from django_ses_query.models import EmailLog
from tests.moto_sending import BACKEND, SENDER, needs_mailers, ses, ses_query, wire  # noqa: F401  Fixtures.

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def declared(ses, settings, tmp_path, monkeypatch):
    """A 'welcome' template whose files live in a TEMPLATES DIRS directory."""
    directory = tmp_path / "templates"
    (directory / "emails").mkdir(parents=True)
    (directory / "emails" / "welcome.txt").write_text("Hello {{name}}, grüße!\n", encoding="utf-8")
    (directory / "emails" / "welcome.html").write_text("<p>Hello {{name}}{{#if vip}}!{{/if}}</p>\n")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(directory)]}]
    settings.SES_QUERY = ses_query(ses, TEMPLATES={
        "welcome": {"subject": "Welcome {{name}}", "text": "emails/welcome.txt", "html": "emails/welcome.html"},
    })
    return directory


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command("ses_templates", *args, stdout=out, **options)
    return out.getvalue()


def test_push_creates_then_updates_then_leaves_unchanged(declared):
    assert run("push") == "welcome: created\n"
    assert "Subject: Welcome {{name}}" in run("show", "welcome")
    assert "Hello {{name}}, grüße!" in run("show", "welcome")
    (declared / "emails" / "welcome.txt").write_text("Hi {{name}}\n")
    with pytest.raises(SystemExit) as exited:
        diff = io.StringIO()
        call_command("ses_templates", "diff", stdout=diff)
    assert exited.value.code == 1
    assert "welcome: changed" in diff.getvalue()
    assert "-Hello {{name}}, grüße!" in diff.getvalue() and "+Hi {{name}}" in diff.getvalue()
    assert run("push", "welcome") == "welcome: updated\n"
    assert run("push") == "welcome: unchanged\n"
    assert run("diff") == "welcome: unchanged\n"
    assert run("list").split("\t")[0] == "welcome"


def test_diff_lists_templates_only_ses_has(declared, settings):
    run("push")
    settings.SES_QUERY["TEMPLATES"] = {"other": {"subject": "S", "text": "emails/welcome.txt"}}
    with pytest.raises(SystemExit) as exited:
        out = io.StringIO()
        call_command("ses_templates", "diff", stdout=out)
    assert exited.value.code == 1
    assert out.getvalue() == "other: new\nwelcome: only in SES\n"


@needs_mailers
def test_using_pushes_the_templates_of_that_mailer(declared, settings):
    options = {key.lower(): value for key, value in settings.SES_QUERY.items()}
    options["templates"] = {"other": options.pop("templates")["welcome"]}
    settings.MAILERS = {**settings.MAILERS, "ses": {"BACKEND": BACKEND, "OPTIONS": options}}
    assert run("push", using="ses") == "other: created\n"
    assert run("list").split("\t")[0] == "other"


def test_a_missing_file_is_a_command_error_and_nothing_is_pushed(declared, settings, wire):
    settings.SES_QUERY["TEMPLATES"]["other"] = {"subject": "S", "text": "emails/missing.txt"}
    with pytest.raises(CommandError, match=r"TEMPLATES\['other'\]\['text'\].*missing\.txt"):
        run("push")
    assert wire.requests == []


def test_show_of_a_missing_template_is_one_line(declared):
    with pytest.raises(CommandError) as raised:
        run("show", "nothing-here")
    assert "TemplateDoesNotExist" in str(raised.value) and "\n" not in str(raised.value)


def test_render_and_delete(declared, monkeypatch):
    run("push")
    rendered = run("render", "welcome", "--data", '{"name": "Ann", "vip": true}')
    assert "Subject: Welcome Ann" in rendered and "Hello Ann" in rendered
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    assert run("delete", "welcome") == "Not deleted.\n"
    assert run("list").startswith("welcome")
    assert run("delete", "welcome", "--no-input") == "welcome: deleted\n"
    assert run("list") == ""


def test_sending_with_a_stored_template(declared, wire):
    run("push")
    wire.requests.clear()
    single = EmailMessage(from_email=SENDER, to=["a@example.net"])
    single.template_id, single.merge_global_data = "welcome", {"name": "Ann"}
    bulk = EmailMessage(from_email=SENDER, to=[f"r{i}@example.net" for i in range(60)])
    bulk.template_id, bulk.merge_data = "welcome", {"r1@example.net": {"name": "One"}}
    assert EmailBackend().send_messages([single, bulk]) == 2
    assert [p["Action"] for p in wire.params] == ["SendTemplatedEmail", "SendBulkTemplatedEmail", "SendBulkTemplatedEmail"]
    rows = EmailLog.objects.exclude(action="SendTemplatedEmail")
    assert rows.count() == 60 and set(rows.values_list("status", flat=True)) == {"sent"}
    assert len(set(rows.values_list("message_id", flat=True))) == 60
    assert single.ses_message_id == EmailLog.objects.get(action="SendTemplatedEmail").message_id
