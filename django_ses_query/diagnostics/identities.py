"""The senders: their verification in SES, and DKIM for their domains."""

from __future__ import annotations

from email.utils import parseaddr

from ..attributes import identity_map
from ..exceptions import SESError
from .findings import ERROR, INFO, OK, WARNING, Finding, error_finding


def sender_addresses(settings) -> list[tuple[str, str, bool]]:
    """(setting, address, needed) for DEFAULT_FROM_EMAIL and SERVER_EMAIL;
    SERVER_EMAIL is needed when ADMINS or MANAGERS will be mailed."""
    found = []
    for name, needed in (
        ("DEFAULT_FROM_EMAIL", True),
        ("SERVER_EMAIL", bool(getattr(settings, "ADMINS", None) or getattr(settings, "MANAGERS", None))),
    ):
        address = parseaddr(str(getattr(settings, name, "") or ""))[1]
        if address and all(address != a for _, a, _ in found):
            found.append((name, address, needed))
    return found


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def sender_identities(senders) -> list[str]:
    """Each sender's address and domain, once each, in order."""
    identities = []
    for _, address, _ in senders:
        for identity in (address, domain_of(address)):
            if identity not in identities:
                identities.append(identity)
    return identities


def check_identities(client, senders, sandbox: bool) -> tuple[list[Finding], list[str]]:
    """Findings, and the verified identities that let each sender send."""
    check = "Sender"
    identities = sender_identities(senders)
    if not identities:
        return [Finding(WARNING, check, "DEFAULT_FROM_EMAIL is empty.", "Set DEFAULT_FROM_EMAIL to a verified address.")], []
    try:
        result = client.call("GetIdentityVerificationAttributes", {"Identities": identities}).result
    except SESError as error:
        return [error_finding(check, "GetIdentityVerificationAttributes", error, permission="ses:GetIdentityVerificationAttributes")], []
    statuses = {key.lower(): value.get("VerificationStatus", "") for key, value in identity_map(result, "VerificationAttributes").items()}
    findings, used = [], []
    for setting, address, needed in senders:
        domain = domain_of(address)
        address_status = statuses.get(address.lower(), "")
        domain_status = statuses.get(domain, "")
        if address_status == "Success" or domain_status == "Success":
            identity = address if address_status == "Success" else domain
            used.append(identity)
            findings.append(Finding(OK, check, f"{setting} {address}: verified ({'address' if identity == address else 'domain ' + domain})."))
            continue
        state = address_status or domain_status or "not an identity in this region"
        fix = (
            f"Verify it in {client.config.region}: SES console → Identities → Create identity "
            f"(domain {domain} or address {address}), then publish the DNS records or click the emailed link."
        )
        if "Pending" in (address_status, domain_status):
            fix = f"Finish verifying it: click the link SES emailed to {address}, or publish {domain}'s DNS records."
        if not needed:
            findings.append(Finding(WARNING, check, f"{setting} {address}: unverified ({state}); used when mailing ADMINS/MANAGERS.", fix))
        else:
            findings.append(Finding(ERROR, check, f"{setting} {address}: unverified ({state}): SES will refuse to send from it.", fix))
    if sandbox:
        findings.append(Finding(INFO, check, "In the sandbox, recipients must be verified too (or be simulator addresses)."))
    return findings, used


def check_dkim(client, identities: list[str]) -> list[Finding]:
    """DKIM for the domains of the verified sending identities."""
    check = "DKIM"
    domains = []
    for identity in identities:
        if domain_of(identity) not in domains:
            domains.append(domain_of(identity))
    if not domains:
        return []
    try:
        result = client.call("GetIdentityDkimAttributes", {"Identities": domains}).result
    except SESError as error:
        return [error_finding(check, "GetIdentityDkimAttributes", error, permission="ses:GetIdentityDkimAttributes")]
    attributes = {key.lower(): value for key, value in identity_map(result, "DkimAttributes").items()}
    findings = []
    for domain in domains:
        value = attributes.get(domain, {})
        enabled = str(value.get("DkimEnabled", "")).lower() == "true"
        status = value.get("DkimVerificationStatus", "") or "not set up"
        if enabled and status == "Success":
            findings.append(Finding(OK, check, f"{domain}: DKIM signing on."))
        else:
            findings.append(
                Finding(
                    WARNING, check, f"{domain}: DKIM {'on but ' if enabled else 'off, '}{status}: mail is less likely to reach the inbox.",
                    f"Set up Easy DKIM for {domain} (SES console → Identities → {domain} → Authentication) and publish its CNAME records.",
                )
            )
    return findings


# -- Bounce and complaint notifications --------------------------------------
