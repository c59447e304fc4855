"""``manage.py ses_sendtestemail``: Django's ``sendtestemail``, through Amazon SES.

Sends through this package's backend (with ``SES_QUERY``, or on Django 6.1
``--using`` a ``MAILERS`` alias) and prints each message's SES MessageId and
send log row. ``--dry-run`` prints the signed request instead of sending it.
"""

from __future__ import annotations

import socket

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ... import query
from ...exceptions import SESError
from ...params import build_request
from ...signals import post_send
from ...signing import redact
from ._ses import add_using_argument, get_backend, ses_command_error

#: Longer parameter values (RawMessage.Data) are cut to this many characters.
MAX_VALUE_LENGTH = 76
ABBREVIATED_PARAMETERS = frozenset({"RawMessage.Data"})
#: SES's mailbox simulator: each address answers with one kind of event, and
#: none counts against the account's bounce or complaint rates.
SIMULATOR_ADDRESSES = {
    kind: f"{kind}@simulator.amazonses.com"
    for kind in ("success", "bounce", "complaint", "ooto", "suppressionlist")
}


def _addresses(setting_name: str) -> list[str]:
    """ADMINS / MANAGERS: address strings, or (name, address) pairs."""
    value = getattr(settings, setting_name, None) or []
    return [entry[1] if isinstance(entry, (list, tuple)) else str(entry) for entry in value]


class Command(BaseCommand):
    help = (
        "Sends a test email through Amazon SES to the addresses given (and/or the "
        "site admins or managers), and prints its SES MessageId and send log row."
    )
    missing_args_message = (
        "You must specify some email recipients, or pass the --managers, --admins or --simulate options."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", nargs="*", help="One or more email addresses to send a test email to.")
        parser.add_argument(
            "--managers", action="store_true",
            help="Send a test email to the addresses specified in settings.MANAGERS.",
        )
        parser.add_argument(
            "--admins", action="store_true",
            help="Send a test email to the addresses specified in settings.ADMINS.",
        )
        parser.add_argument(
            "--simulate", action="append", default=[], choices=sorted(SIMULATOR_ADDRESSES),
            help="Also send to SES's mailbox simulator address for this outcome (repeatable): "
            "success, bounce, complaint, ooto (an out-of-office reply) or suppressionlist.",
        )
        add_using_argument(parser, "to send the test email through")
        parser.add_argument(
            "--from", dest="from_email", metavar="ADDRESS",
            help="The sender (default: DEFAULT_FROM_EMAIL; SERVER_EMAIL for --admins/--managers).",
        )
        parser.add_argument("--subject", help="The subject (default: 'Test email from HOST on DATE').")
        parser.add_argument("--body", help="The plain text body.")
        parser.add_argument("--html", metavar="HTML", help="An HTML body, sent alongside the text.")
        parser.add_argument(
            "--attach", action="append", default=[], metavar="PATH",
            help="Attach this file (repeatable); the message is then sent with SendRawEmail.",
        )
        parser.add_argument(
            "--dry-run", action="store_true",
            help="Print the signed request that would be sent (secrets redacted); send nothing.",
        )

    def handle(self, *args, **options):
        messages = self.build_messages(options)
        backend = get_backend(options.get("using"))
        for message in messages:
            if options["dry_run"]:
                self.print_request(backend, message)
            else:
                self.send(backend, message)

    # Messages, as sendtestemail builds them.

    def build_messages(self, options) -> list[EmailMultiAlternatives]:
        subject = options["subject"] or f"Test email from {socket.gethostname()} on {timezone.now()}"
        from_email = options["from_email"]
        messages = []
        recipients = [*options["email"], *(SIMULATOR_ADDRESSES[kind] for kind in dict.fromkeys(options["simulate"]))]
        if recipients:
            messages.append(
                self.message(
                    options, subject, options["body"] or "If you're reading this, it was successful.",
                    from_email or settings.DEFAULT_FROM_EMAIL, recipients,
                )
            )
        for flag, setting_name, who in (("managers", "MANAGERS", "managers"), ("admins", "ADMINS", "admins")):
            if not options[flag]:
                continue
            recipients = _addresses(setting_name)
            if not recipients:
                raise CommandError(f"--{flag}: settings.{setting_name} is empty.")
            messages.append(
                self.message(
                    options, f"{settings.EMAIL_SUBJECT_PREFIX}{subject}",
                    options["body"] or f"This email was sent to the site {who}.",
                    from_email or settings.SERVER_EMAIL, recipients,
                )
            )
        if not messages:
            raise CommandError(self.missing_args_message)
        return messages

    def message(self, options, subject, body, from_email, to) -> EmailMultiAlternatives:
        message = EmailMultiAlternatives(subject, body, from_email, list(to))
        if options["html"]:
            message.attach_alternative(options["html"], "text/html")
        for path in options["attach"]:
            try:
                message.attach_file(path)
            except OSError as error:
                raise CommandError(f"Cannot attach {path}: {error.strerror or error}.") from None
        return message

    # Sending.

    def send(self, backend, message) -> None:
        # What happened, as post_send tells it: with a MAILERS entry that
        # fails silently (and may not log), nothing else does.
        errors = []
        ours = message

        def record(sender, message, error=None, **kwargs) -> None:
            if message is ours and error is not None:
                errors.append(error)

        post_send.connect(record, weak=False)
        try:
            sent = backend.send_messages([message])
        except SESError as error:
            raise ses_command_error(error) from None
        finally:
            post_send.disconnect(record)
        log = getattr(message, "ses_log", None)
        if not sent:
            if errors:
                raise ses_command_error(errors[0])
            if log is not None and log.status == "suppressed":
                raise CommandError(
                    f"Not sent to {', '.join(message.to)}: every recipient is on the suppression "
                    "list (SUPPRESSION is on)."
                )
            raise CommandError(
                f"Not sent to {', '.join(message.to)}: cancelled by a pre_send receiver."
            )
        self.stdout.write(self.style.SUCCESS(f"Sent {message.subject!r} to {', '.join(message.to)}."))
        self.stdout.write(f"  MessageId: {message.ses_message_id}")
        self.stdout.write(f"  Log row:   {self.describe_log(backend, log)}")
        if log is not None and log.suppressed:
            self.stdout.write(f"  Suppressed (not sent to): {', '.join(log.suppressed)}")

    @staticmethod
    def describe_log(backend, log) -> str:
        if log is not None:
            return f"{log.pk} (database {log._state.db!r})"
        if not backend.config.log:
            return "none (the send log is off: SES_QUERY LOG is False)"
        if backend.config.log == "failures":
            return "none (only failures are logged: SES_QUERY LOG is 'failures')"
        return "none (the row could not be written; see the django_ses_query logger)"

    # --dry-run.

    def print_request(self, backend, message) -> None:
        config = backend.config
        try:
            request = build_request(
                message,
                default_configuration_set=config.configuration_set,
                default_tags=config.tags,
            )
            credentials = backend.client.credentials()
            headers = redact(backend.client.signed_headers(request.body, credentials))
        except SESError as error:
            raise ses_command_error(error) from None
        out = self.stdout
        out.write(self.style.WARNING("Dry run: nothing was sent."))
        out.write(f"Action:   {request.action}")
        out.write(f"Endpoint: POST {backend.client.endpoint_url}")
        out.write(f"Region:   {config.region}")
        # Which source of the credentials chain answered; never the secret.
        source = getattr(backend.client.credentials_provider, "source", "unknown")
        out.write(f"Credentials: {source}, access key id {credentials.access_key_id}")
        out.write("Parameters:")
        pairs = [("Action", request.action), ("Version", query.API_VERSION), *query.flatten(request.params)]
        for name, value in pairs:
            out.write(f"  {name} = {self.show_value(name, value)}")
        out.write("Signed headers:")
        for name, value in headers.items():
            out.write(f"  {name}: {value}")
        out.write(f"Body: {len(request.body)} bytes (application/x-www-form-urlencoded)")

    @staticmethod
    def show_value(name: str, value: str) -> str:
        if name in ABBREVIATED_PARAMETERS and len(value) > MAX_VALUE_LENGTH:
            return f"{value[:MAX_VALUE_LENGTH]}… ({len(value)} characters)"
        # One line per parameter: newlines (in a body) shown escaped.
        return value.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")
