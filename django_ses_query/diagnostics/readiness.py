"""Bulk-sender readiness (Gmail, Yahoo and Outlook's rules for senders of
more than 5,000 messages a day): SPF aligned through a custom MAIL FROM
domain, one-click unsubscribe, and the complaint rate.

Trusts nothing SES answers (every field read with a default) and reads the
send log as the dashboard does: per message, outcome ``complained`` over
rows ``sent``.
"""

from __future__ import annotations

import datetime

from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from ..attributes import identity_map
from ..exceptions import SESError
from ..topics import URL_NAME
from .findings import ERROR, INFO, OK, WARNING, Finding, error_finding
from .identities import domain_of, sender_identities

#: Gmail's spam-rate lines (percent): stay below the first, never reach the second.
COMPLAINT_WARNING, COMPLAINT_ERROR = 0.1, 0.3
COMPLAINT_DAYS = 7
#: Fewer messages than this say nothing about a rate.
COMPLAINT_MINIMUM = 100


def check_mail_from(client, senders) -> list[Finding]:
    """A custom MAIL FROM domain (status ``Success``) on each sender's
    address or domain identity: SPF then aligns with the From domain."""
    check = "MAIL FROM"
    identities = sender_identities(senders)
    if not identities:
        return []
    try:
        result = client.call("GetIdentityMailFromDomainAttributes", {"Identities": identities}).result
    except SESError as error:
        return [error_finding(check, "GetIdentityMailFromDomainAttributes", error,
                              permission="ses:GetIdentityMailFromDomainAttributes")]
    attributes = {key.lower(): value for key, value in identity_map(result, "MailFromDomainAttributes").items()}
    findings, seen = [], set()
    for setting, address, _ in senders:
        domain = domain_of(address)
        if domain in seen:
            continue
        seen.add(domain)
        found = [attributes.get(identity.lower(), {}) for identity in (address, domain)]
        ready = [a.get("MailFromDomain", "") for a in found if a.get("MailFromDomainStatus") == "Success"]
        if ready and ready[0]:
            findings.append(Finding(OK, check, f"{domain}: custom MAIL FROM domain {ready[0]}."))
            continue
        states = [f"{a.get('MailFromDomain')} {a.get('MailFromDomainStatus') or 'not verified'}"
                  for a in found if a.get("MailFromDomain")]
        state = f"({', '.join(states)})" if states else "none set"
        findings.append(Finding(
            WARNING, check,
            f"{domain} ({setting}): no custom MAIL FROM domain in use {state}: SPF does not align with the "
            "From domain, which bulk senders need.",
            f"Set a MAIL FROM domain such as mail.{domain} (SES console → Identities → {domain} → Custom MAIL FROM "
            "domain) and publish its MX and SPF records.",
        ))
    return findings


def check_unsubscribe(config) -> list[Finding]:
    """``UNSUBSCRIBE_BASE_URL`` and the endpoint's URL."""
    check = "Unsubscribe"
    base, topic = config.unsubscribe_base_url, config.unsubscribe_topic
    if not base and not topic:
        return [Finding(INFO, check, "One-click unsubscribe is not configured (no UNSUBSCRIBE_BASE_URL).",
                        "Bulk mail needs it: set UNSUBSCRIBE_BASE_URL and give newsletters an unsubscribe topic.")]
    try:
        path = reverse(URL_NAME, args=["token"]).rsplit("token", 1)[0]
    except NoReverseMatch:
        return [Finding(ERROR, check, f"The URL {URL_NAME!r} does not reverse: messages with a topic cannot be sent.",
                        "Add path('ses/', include('django_ses_query.urls')) to the URLconf.")]
    if not base:
        return [Finding(ERROR, check, f"UNSUBSCRIBE_TOPIC is {topic!r} but UNSUBSCRIBE_BASE_URL is not set: "
                        "its messages cannot be sent.", "Set UNSUBSCRIBE_BASE_URL, e.g. 'https://example.com'.")]
    if base.startswith("http://"):
        return [Finding(WARNING, check, f"UNSUBSCRIBE_BASE_URL {base} is http: mail providers want an https "
                        "one-click link.", "Use https in production.")]
    return [Finding(OK, check, f"One-click links go to {base}{path}<token>/.")]


def check_complaint_rate(config) -> list[Finding]:
    """The complaint rate of the last seven days' messages."""
    from ..models import EmailLog

    check = "Complaint rate"
    since = timezone.now() - datetime.timedelta(days=COMPLAINT_DAYS)
    try:
        sent = EmailLog.objects.using(config.log_database).filter(
            created_at__gte=since, status=EmailLog.Status.SENT
        )
        total = sent.count()
        complained = sent.filter(outcome=EmailLog.Outcome.COMPLAINED).count() if total else 0
    except Exception as error:
        return [Finding(WARNING, check, f"The send log could not be read ({type(error).__name__}).")]
    if total < COMPLAINT_MINIMUM:
        return [Finding(INFO, check, f"{total} message{'s' if total != 1 else ''} sent in the last "
                        f"{COMPLAINT_DAYS} days: too few to judge.")]
    percent = complained / total * 100
    text = f"{percent:.2f} % ({complained} of {total} messages sent in the last {COMPLAINT_DAYS} days)"
    if percent >= COMPLAINT_ERROR:
        return [Finding(ERROR, check, f"{text}: at or above Gmail's {COMPLAINT_ERROR} %: bulk mail is rejected.",
                        "Stop sending to people who did not ask; make unsubscribing easy (one-click topics).")]
    if percent >= COMPLAINT_WARNING:
        return [Finding(WARNING, check, f"{text}: at or above Gmail's {COMPLAINT_WARNING} % line (SES reviews at "
                        "0.1 %).", "Find the mail people complain about (dashboard → top reasons) and fix it.")]
    return [Finding(OK, check, f"{text}: below Gmail's {COMPLAINT_WARNING} %.")]
