"""``manage.py ses_check``: can this site send through Amazon SES, and if
not, what to change.

Prints one line per finding (OK, INFO, WARNING, DENIED, ERROR) and, under
each problem, its fix. Exits non-zero when sending cannot work (any ERROR).
``--dry-run`` asks nothing of AWS: it checks the settings and signs a sample
request to show it is well formed.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.management.base import BaseCommand, CommandError

from ... import diagnostics
from ...diagnostics import DENIED, ERROR, INFO, OK, Finding
from ...exceptions import SESError
from ...params import build_request
from ...signing import redact
from ._ses import add_using_argument, get_backend

SIMULATOR = "success@simulator.amazonses.com"


class Command(BaseCommand):
    help = (
        "Checks the Amazon SES setup: credentials and account, region and endpoint, "
        "quota and sandbox, verified senders, DKIM, bounce and complaint notifications, "
        "the configuration set, bulk-sender readiness (MAIL FROM, one-click unsubscribe, complaint rate). "
        "Exits non-zero when sending cannot work."
    )

    def add_arguments(self, parser):
        add_using_argument(parser, "to check")
        parser.add_argument(
            "--dry-run", action="store_true",
            help="Ask nothing of AWS: check the settings and sign a sample SendEmail request.",
        )

    def handle(self, *args, **options):
        using = options.get("using")
        backend = get_backend(using)
        which = f"MAILERS[{using!r}]" if using else "SES_QUERY"
        self.stdout.write(self.style.MIGRATE_HEADING(f"Amazon SES check ({which})"))
        request_lines: list[str] = []
        if options["dry_run"]:
            findings = self.dry_run(backend, request_lines)
        else:
            backend.open()
            try:
                findings = diagnostics.run_all(backend.client, settings)
            finally:
                backend.close()
        for finding in findings:
            self.show(finding)
        for line in request_lines:
            self.stdout.write(line)
        problems = [f for f in findings if f.fatal]
        warnings = [f for f in findings if f.status not in (OK, INFO) and not f.fatal]
        if problems:
            raise CommandError(
                f"Sending cannot work: {len(problems)} problem{'s' if len(problems) != 1 else ''} "
                "(ERROR above, each with its fix)."
            )
        if options["dry_run"]:
            summary = "Dry run: the request is well formed; nothing was sent."
        else:
            denied = [f for f in warnings if f.status == DENIED]
            summary = "No problem found that stops sending"
            if denied:
                summary += f"; {len(denied)} check{'s' if len(denied) != 1 else ''} could not run (DENIED)"
            others = len(warnings) - len(denied)
            summary += f" ({others} warning{'s' if others != 1 else ''})." if others else "."
        self.stdout.write(self.style.SUCCESS(summary))

    def show(self, finding: Finding) -> None:
        style = {
            OK: self.style.SUCCESS,
            INFO: str,
            ERROR: self.style.ERROR,
        }.get(finding.status, self.style.WARNING)
        self.stdout.write(style(f"[{finding.status:<7}] {finding.check}: {finding.message}"))
        if finding.fix:
            self.stdout.write(f"          fix: {finding.fix}")

    def dry_run(self, backend, request_lines: list[str]) -> list[Finding]:
        """Findings from the settings alone; ``request_lines`` receives the
        signed sample request (secrets redacted)."""
        client = backend.client
        config = backend.config
        try:
            credentials = client.credentials()
        except SESError as error:
            return [Finding(ERROR, "Credentials", str(error), "Set ACCESS_KEY_ID and SECRET_ACCESS_KEY in SES_QUERY, or the AWS_* environment variables.")]
        source = getattr(client.credentials_provider, "source", "unknown")
        findings = [Finding(INFO, "Credentials", f"Access key {diagnostics.masked(credentials.access_key_id)}, from {source} (not checked with AWS).")]
        findings += diagnostics.check_endpoint(config)
        sender = settings.DEFAULT_FROM_EMAIL
        message = EmailMessage("ses_check", "A sample request; never sent.", sender, [SIMULATOR])
        try:
            request = build_request(message, default_configuration_set=config.configuration_set, default_tags=config.tags)
            headers = client.signed_headers(request.body, credentials)
        except (SESError, ValueError) as error:
            return [*findings, Finding(ERROR, "Signature", f"Could not build or sign a request: {error}", "Fix the setting or sender named above.")]
        authorization = headers.get("Authorization", "")
        scope = f"/{config.region}/ses/aws4_request"
        signed = authorization.partition("SignedHeaders=")[2].partition(",")[0].split(";")
        if scope in authorization and {"host", "x-amz-date"} <= set(signed):
            findings.append(Finding(OK, "Signature", f"{request.action} from {sender} signed for ses in {config.region} ({len(request.body)} bytes, nothing sent)."))
        else:
            findings.append(Finding(ERROR, "Signature", f"The signature does not cover {scope} with host and x-amz-date: {redact(headers)}"))
        findings += diagnostics.readiness(config)
        request_lines.append(f"Sample request (not sent): POST {client.endpoint_url}")
        request_lines.extend(f"  {name}: {value}" for name, value in redact(headers).items())
        return findings
