"""First-contact diagnostics for ``manage.py ses_check``: can this backend
send, and if not, what to change.

Each check returns :class:`Finding` objects; a finding that is an ``ERROR``
means sending cannot work. Trusts nothing SES or STS answers: every field is
read with a default, and any :class:`~.exceptions.SESError` (AccessDenied
included) becomes a finding, never an exception.
"""

from __future__ import annotations

from .account import check_credentials, check_endpoint, check_quota, sts_endpoint
from .findings import DENIED, ERROR, INFO, OK, WARNING, Finding, masked
from .identities import check_dkim, check_identities, sender_addresses
from .notifications import check_configuration_set, check_notifications
from .receiving import check_receiving
from .readiness import check_complaint_rate, check_mail_from, check_unsubscribe

__all__ = [
    "DENIED", "ERROR", "INFO", "OK", "WARNING", "Finding", "check_endpoint", "masked", "readiness", "run_all",
    "sts_endpoint",
]


def readiness(config) -> list[Finding]:
    """Bulk-sender readiness from the settings and the send log (no AWS call)."""
    return check_unsubscribe(config) + check_complaint_rate(config)


def run_all(client, settings) -> list[Finding]:
    """Every check that talks to AWS, in order."""
    config = client.config
    findings = check_credentials(client) + check_endpoint(config)
    if any(f.fatal for f in findings if f.check == "Credentials"):
        return findings
    quota, sandbox = check_quota(client)
    findings += quota
    if any(f.fatal and "no answer" in f.message for f in quota):
        return findings  # Nothing else will get through.
    senders = sender_addresses(settings)
    identity_findings, used = check_identities(client, senders, sandbox)
    findings += identity_findings
    findings += check_dkim(client, used)
    set_findings, destinations = check_configuration_set(client, config.configuration_set)
    findings += check_notifications(client, used, config.event_topic_arns, destinations)
    findings += set_findings
    findings += check_receiving(client, config.event_topic_arns)
    findings += check_mail_from(client, senders)
    findings += readiness(config)
    findings.append(
        Finding(INFO, "Sending", "Not tried: to prove ses:SendEmail and ses:SendRawEmail, run "
                "manage.py ses_sendtestemail --simulate success (add --attach FILE for SendRawEmail).")
    )
    return findings
