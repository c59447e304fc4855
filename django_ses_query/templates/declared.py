"""The templates kept in the repository (``SES_QUERY["TEMPLATES"]``), read
and compared with SES's.

Trusts the setting's shape (checked by ``conf``: the keys, the name), not
its files: a file that no loader finds and that is not a path from the
current directory, or that is not UTF-8, is a problem named with the
template and the key. Files are found the way Django's template loaders find
a name (``DIRS`` and the app directories), then read as source, never
rendered: SES's ``{{name}}``, ``{{#if}}`` and ``{{{html}}}`` are not Django
syntax. Also reads SES's ``GetTemplate`` and ``TestRenderTemplate`` answers.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from email import message_from_string, policy
from pathlib import Path

#: The parts of a template, by setting key and by SES's member name.
PARTS = (("subject", "SubjectPart"), ("text", "TextPart"), ("html", "HtmlPart"))


@dataclass(frozen=True)
class Template:
    """A template's name and parts (None: the part is absent)."""

    name: str
    subject: str
    text: str | None = None
    html: str | None = None

    def params(self) -> dict:
        """``Template`` for ``CreateTemplate`` / ``UpdateTemplate``."""
        template = {"TemplateName": self.name}
        for key, member in PARTS:
            if getattr(self, key) is not None:
                template[member] = getattr(self, key)
        return {"Template": template}

    def same_as(self, other: Template) -> bool:
        return all((getattr(self, k) or "") == (getattr(other, k) or "") for k, _ in PARTS)


class TemplateProblem(ValueError):
    """A declared template cannot be read."""


def read_source(name: str) -> str:
    """The text of template file ``name``: the first that Django's template
    loaders find, else the path from the current directory. Never rendered."""
    from django.template import TemplateDoesNotExist, engines

    for engine in engines.all():
        inner = getattr(engine, "engine", None)  # the Django template language's Engine
        for loader in getattr(inner, "template_loaders", None) or ():
            for origin in loader.get_template_sources(name):
                try:
                    return origin.loader.get_contents(origin)
                except TemplateDoesNotExist:
                    continue
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"no template loader finds {name!r}, and there is no file {str(path.absolute())!r}"
        )
    return path.read_text(encoding="utf-8")


def read_declared(declared: dict, names: list[str] | None = None) -> list[Template]:
    """The declared templates (those in ``names``, in that order, or all),
    with their files read. Raises :class:`TemplateProblem` listing every
    problem; reads everything before it raises."""
    problems = []
    unknown = [name for name in names or () if name not in declared]
    if unknown:
        problems.append(
            f"not declared in SES_QUERY['TEMPLATES']: {', '.join(map(repr, unknown))} "
            f"(declared: {', '.join(map(repr, declared)) or 'none'})"
        )
    templates = []
    for name in names or list(declared):
        if name not in declared:
            continue
        spec = declared[name]
        parts = {"subject": spec["subject"]}
        for key in ("text", "html"):
            if spec.get(key) is None:
                continue
            try:
                parts[key] = read_source(spec[key])
            except (OSError, UnicodeDecodeError) as error:
                problems.append(f"TEMPLATES[{name!r}][{key!r}]: {error}")
        templates.append(Template(name, **parts))
    if problems:
        raise TemplateProblem("; ".join(problems))
    return templates


def _child_text(node, name: str) -> str | None:
    for child in node.iter():
        if child.tag.rpartition("}")[2] == name:
            return child.text or ""
    return None


def template_from_result(name: str, result) -> Template:
    """A ``GetTemplate`` answer (:class:`~django_ses_query.responses.Result`)."""
    node = result.node
    parts = {key: _child_text(node, member) if node is not None else None for key, member in PARTS}
    return Template(name, parts["subject"] or "", parts["text"], parts["html"])


def unified_diff(ses: Template, local: Template) -> str:
    """What pushing ``local`` would change in SES's ``ses``, part by part."""
    lines = []
    for key, member in PARTS:
        before, after = getattr(ses, key) or "", getattr(local, key) or ""
        if before != after:
            lines.extend(difflib.unified_diff(
                before.splitlines(keepends=True), after.splitlines(keepends=True),
                fromfile=f"ses/{local.name}/{member}", tofile=f"local/{local.name}/{member}",
            ))
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def rendered_parts(mime: str) -> Template:
    """A ``TestRenderTemplate`` answer (the rendered MIME message): its
    decoded subject, text and HTML."""
    message = message_from_string(mime, policy=policy.default)
    text = html = None
    for part in message.walk():
        if part.get_content_type() == "text/plain" and text is None:
            text = part.get_content()
        elif part.get_content_type() == "text/html" and html is None:
            html = part.get_content()
    return Template("", str(message.get("Subject", "")), text, html)
