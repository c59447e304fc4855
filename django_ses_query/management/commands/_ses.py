"""What the ses_* management commands share (not a command: starts with "_")."""

from __future__ import annotations

import django
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from ...backend import EmailBackend
from ...exceptions import SESError

BACKEND_PATH = "django_ses_query.backend.EmailBackend"

#: Django 6.1's MAILERS: the commands take ``--using ALIAS``.
HAS_MAILERS = django.VERSION >= (6, 1)


def add_using_argument(parser, what: str) -> None:
    if HAS_MAILERS:
        parser.add_argument(
            "--using",
            default=None,
            metavar="ALIAS",
            help=f"The MAILERS alias {what} (its BACKEND must be {BACKEND_PATH}). "
            "Default: this backend with the SES_QUERY setting.",
        )


def get_backend(using: str | None = None) -> EmailBackend:
    """The backend: ``EmailBackend()`` with ``SES_QUERY``, or ``mailers[using]``."""
    if using is None:
        try:
            return EmailBackend()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
    from django.core.mail import InvalidMailer, MailerDoesNotExist, mailers

    try:
        backend = mailers[using]
    except (MailerDoesNotExist, InvalidMailer, ImproperlyConfigured) as error:
        raise CommandError(str(error)) from None
    if not isinstance(backend, EmailBackend):
        raise CommandError(
            f"MAILERS[{using!r}] uses {type(backend).__module__}.{type(backend).__qualname__}, "
            f"not {BACKEND_PATH}."
        )
    return backend


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def ses_command_error(error: SESError) -> CommandError:
    """One line: the SES error code and message (HTTP status, RequestId)."""
    return CommandError(one_line(str(error)))
