"""SES_QUERY["TEMPLATES"]: its shape (ImproperlyConfigured and check E003
name the template and the key), how files are found and read (never
rendered), and SES's template errors as SESTemplateError."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_ses_query.conf import get_config
from django_ses_query.exceptions import SESTemplateError
from django_ses_query.responses import parse_error
from django_ses_query.templates.declared import TemplateProblem, read_declared
from tests.test_checks import CREDENTIALS, ours


@pytest.mark.parametrize(
    "templates, words",
    [
        ({"welcome": {"subject": "S", "text": "a.txt", "body": "x"}}, "TEMPLATES['welcome'] has an unknown key 'body'"),
        ({"welcome": {"text": "a.txt"}}, "TEMPLATES['welcome']['subject'] is required"),
        ({"welcome": {"subject": "S"}}, "TEMPLATES['welcome'] needs 'text' and/or 'html'"),
        ({"bad name": {"subject": "S", "text": "a.txt"}}, "Template name 'bad name'"),
        ({"welcome": {"subject": "S", "html": 3}}, "TEMPLATES['welcome']['html'] must be a file name"),
        ({"welcome": "emails/welcome.txt"}, "TEMPLATES['welcome'] must be a dict"),
    ],
)
def test_a_bad_entry_names_the_template_and_the_key(settings, templates, words):
    settings.SES_QUERY = {**CREDENTIALS, "TEMPLATES": templates}
    with pytest.raises(ImproperlyConfigured) as raised:
        get_config()
    assert words in str(raised.value)
    [message] = ours(SES_QUERY={**CREDENTIALS, "TEMPLATES": templates})
    assert message.id == "django_ses_query.E003" and words in message.msg


def test_files_are_found_by_the_template_loaders_then_from_the_current_directory(settings, tmp_path, monkeypatch):
    loaded = tmp_path / "dirs" / "emails"
    loaded.mkdir(parents=True)
    (loaded / "welcome.html").write_text("<p>{{#if vip}}{{{html}}}{{/if}} {% not django %}</p>", encoding="utf-8")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path / "dirs")]}]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain.txt").write_text("Grüße {{name}}\n", encoding="utf-8")
    (template,) = read_declared({"welcome": {"subject": "Hi {{name}}", "text": "plain.txt", "html": "emails/welcome.html"}})
    assert template.html == "<p>{{#if vip}}{{{html}}}{{/if}} {% not django %}</p>"  # not rendered
    assert template.text == "Grüße {{name}}\n"
    assert template.params() == {"Template": {
        "TemplateName": "welcome", "SubjectPart": "Hi {{name}}", "TextPart": template.text, "HtmlPart": template.html,
    }}


def test_an_admin_template_is_still_found_by_django(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/admin/django_ses_query/emaillog/").status_code == 200


def test_every_unreadable_file_is_reported_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TemplateProblem) as raised:
        read_declared({"a": {"subject": "S", "text": "missing-a.txt"}, "b": {"subject": "S", "html": "missing-b.html"}},
                      ["a", "b", "c"])
    text = str(raised.value)
    assert "'c'" in text and "TEMPLATES['a']['text']" in text and "TEMPLATES['b']['html']" in text


@pytest.mark.parametrize(
    "code", ["TemplateDoesNotExist", "InvalidTemplate", "MissingRenderingAttribute", "InvalidRenderingParameter"]
)
def test_ses_template_errors_are_not_retried(code):
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>m</Message></Error>"
            "<RequestId>r</RequestId></ErrorResponse>").encode()
    error = parse_error(body, 400)
    assert isinstance(error, SESTemplateError) and error.code == code and not error.retryable


def test_list_follows_next_token_and_an_ses_error_is_one_line(fake_ses):
    import io

    from django.core.management import CommandError, call_command

    from tests.fakeses import error, xml

    def page(names, token=""):
        members = "".join(f"<member><Name>{n}</Name><CreatedTimestamp>2026-01-0{i + 1}T00:00:00Z</CreatedTimestamp>"
                          "</member>" for i, n in enumerate(names))
        next_token = f"<NextToken>{token}</NextToken>" if token else ""
        return xml(200, f'<ListTemplatesResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><ListTemplatesResult>'
                        f"<TemplatesMetadata>{members}</TemplatesMetadata>{next_token}</ListTemplatesResult>"
                        "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></ListTemplatesResponse>")

    fake_ses.enqueue(page(["a", "b"], "tok-1"), page(["c"]))
    out = io.StringIO()
    call_command("ses_templates", "list", stdout=out)
    assert [line.split("\t")[0] for line in out.getvalue().splitlines()] == ["a", "b", "c"]
    assert fake_ses.requests[1].params["NextToken"] == "tok-1"
    fake_ses.enqueue(error("Throttling"))
    with pytest.raises(CommandError) as raised:
        call_command("ses_templates", "delete", "a", "--no-input", stdout=io.StringIO())
    assert "Throttling" in str(raised.value) and "\n" not in str(raised.value)
