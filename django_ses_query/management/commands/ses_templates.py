"""``manage.py ses_templates``: SES's stored templates, kept in the repository.

``push`` creates or updates the templates declared in
``SES_QUERY["TEMPLATES"]`` (every file is read first: any problem, and
nothing is pushed); ``diff`` shows what ``push`` would change and exits 1
when anything differs; ``list``, ``show``, ``render`` (``TestRenderTemplate``)
and ``delete`` work on the templates in SES. With Django 6.1, ``--using``
picks a ``MAILERS`` alias. An SES error is one line and a non-zero exit.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from ...exceptions import SESError, SESTemplateError
from ...templates.declared import (
    Template,
    TemplateProblem,
    read_declared,
    rendered_parts,
    template_from_result,
    unified_diff,
)
from ._ses import add_using_argument, get_backend, ses_command_error


class Command(BaseCommand):
    help = "Pushes the templates declared in SES_QUERY['TEMPLATES'] to Amazon SES, and shows SES's templates."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        push = commands.add_parser("push", help="Create or update the declared templates in SES.")
        push.add_argument("names", nargs="*", metavar="NAME", help="Only these templates (default: all).")
        diff = commands.add_parser("diff", help="Show what push would change; exit 1 when anything differs.")
        diff.add_argument("names", nargs="*", metavar="NAME", help="Only these templates (default: all).")
        commands.add_parser("list", help="List every template in SES.")
        show = commands.add_parser("show", help="Print a template's subject, text and HTML parts.")
        show.add_argument("name", metavar="NAME")
        render = commands.add_parser("render", help="Render a template in SES (TestRenderTemplate).")
        render.add_argument("name", metavar="NAME")
        render.add_argument("--data", default="{}", metavar="JSON", help="The template data, a JSON object.")
        delete = commands.add_parser("delete", help="Delete a template from SES (asks first).")
        delete.add_argument("name", metavar="NAME")
        delete.add_argument(
            "--no-input", "--noinput", action="store_false", dest="interactive",
            help="Do not ask for confirmation.",
        )
        for sub in (push, diff, show, render, delete, commands.choices["list"]):
            add_using_argument(sub, "whose SES account to use")

    def handle(self, *args, **options):
        action = options["action"]
        self.backend = get_backend(options.get("using"))
        if action in ("push", "diff"):
            # Every file is read before the first call.
            options["declared"] = self.declared(options["names"])
        self.client = self.backend.client
        new_session = self.client.open()
        try:
            getattr(self, f"do_{action}")(options)
        except SESError as error:
            raise ses_command_error(error) from None
        finally:
            if new_session:
                self.client.close()

    def declared(self, names: list[str]) -> list[Template]:
        try:
            return read_declared(self.backend.config.templates, names or None)
        except TemplateProblem as problem:
            raise CommandError(f"SES_QUERY['TEMPLATES']: {problem}") from None

    # SES.

    def call(self, action: str, params: dict | None = None):
        return self.client.call(action, params or {}).result

    def get(self, name: str) -> Template | None:
        """SES's template ``name``, or None when SES has none by that name."""
        try:
            return template_from_result(name, self.call("GetTemplate", {"TemplateName": name}))
        except SESTemplateError as error:
            if error.code.startswith("TemplateDoesNotExist"):
                return None
            raise

    def names_in_ses(self) -> list[tuple[str, str]]:
        """(name, created) of every template in SES, following NextToken."""
        found, token = [], None
        while True:
            result = self.call("ListTemplates", {"NextToken": token} if token else {})
            found.extend((m.get("Name", ""), m.get("CreatedTimestamp", "")) for m in result.members)
            token = result.values.get("NextToken")
            if not token:
                return found

    # The actions.

    def do_push(self, options) -> None:
        for template in options["declared"]:
            current = self.get(template.name)
            if current is None:
                self.call("CreateTemplate", template.params())
                outcome = "created"
            elif not current.same_as(template):
                self.call("UpdateTemplate", template.params())
                outcome = "updated"
            else:
                outcome = "unchanged"
            self.stdout.write(f"{template.name}: {outcome}")

    def do_diff(self, options) -> None:
        differs = False
        for template in options["declared"]:
            current = self.get(template.name)
            if current is None:
                self.stdout.write(f"{template.name}: new")
                differs = True
            elif current.same_as(template):
                self.stdout.write(f"{template.name}: unchanged")
            else:
                self.stdout.write(f"{template.name}: changed")
                self.stdout.write(unified_diff(current, template), ending="")
                differs = True
        local = set(self.backend.config.templates)
        for name, _ in self.names_in_ses():
            if name not in local:
                self.stdout.write(f"{name}: only in SES")
                differs = True
        if differs:
            sys.exit(1)

    def do_list(self, options) -> None:
        for name, created in self.names_in_ses():
            self.stdout.write(f"{name}\t{created}" if created else name)

    def do_show(self, options) -> None:
        template = self.get(options["name"])
        if template is None:
            raise CommandError(f"TemplateDoesNotExist: SES has no template named {options['name']!r}.")
        self.print_parts(template)

    def do_render(self, options) -> None:
        try:
            data = json.loads(options["data"])
        except ValueError as error:
            raise CommandError(f"--data is not JSON: {error}") from None
        if not isinstance(data, dict):
            raise CommandError("--data must be a JSON object.")
        result = self.call("TestRenderTemplate", {"TemplateName": options["name"], "TemplateData": json.dumps(data)})
        self.print_parts(rendered_parts(result.values.get("RenderedTemplate", "")))

    def do_delete(self, options) -> None:
        name = options["name"]
        if options["interactive"]:
            answer = input(f"Delete the template {name!r} from SES? Type 'yes' to continue: ")
            if answer.strip() != "yes":
                self.stdout.write("Not deleted.")
                return
        self.call("DeleteTemplate", {"TemplateName": name})
        self.stdout.write(f"{name}: deleted")

    def print_parts(self, template: Template) -> None:
        self.stdout.write(f"Subject: {template.subject}")
        for label, part in (("text", template.text), ("HTML", template.html)):
            self.stdout.write(f"--- {label} ---")
            self.stdout.write(part if part is not None else "(none)")

