"""First-contact diagnostics for ``manage.py ses_check``: can this backend
send, and if not, what to change.

Each check returns :class:`Finding` objects; a finding that is an ``ERROR``
means sending cannot work. Trusts nothing SES or STS answers: every field is
read with a default, and any :class:`~.exceptions.SESError` (AccessDenied
included) becomes a finding, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import urlsplit

from .attributes import identity_map, members, structure
from .exceptions import SESError

OK, INFO, WARNING, DENIED, ERROR = "OK", "INFO", "WARNING", "DENIED", "ERROR"

STS_VERSION = "2011-06-15"
SANDBOX_QUOTA = (200.0, 1.0)
ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException"})
KEY_PROBLEMS = {
    "InvalidClientTokenId": "AWS does not know this access key id.",
    "UnrecognizedClientException": "AWS does not know this access key id.",
    "SignatureDoesNotMatch": "the secret access key does not belong to this access key id.",
    "ExpiredToken": "the session token has expired.",
    "RequestExpired": "the request's date is too far from AWS's clock.",
}
KEY_FIXES = {
    "InvalidClientTokenId": "Use an active access key (IAM → Users → Security credentials), and the session token that came with temporary keys.",
    "UnrecognizedClientException": "Use an active access key (IAM → Users → Security credentials).",
    "SignatureDoesNotMatch": "Set SECRET_ACCESS_KEY to the secret issued with this access key id (no stray whitespace).",
    "ExpiredToken": "Get fresh temporary credentials (or use long-term keys or a role the app can refresh).",
    "RequestExpired": "Synchronise this machine's clock (NTP).",
}


@dataclass
class Finding:
    status: str
    check: str
    message: str
    fix: str = ""

    @property
    def fatal(self) -> bool:
        return self.status == ERROR


def error_finding(check: str, action: str, error: SESError, *, permission: str) -> Finding:
    """The finding for a failed call: AccessDenied is a missing permission
    (not fatal by itself); a key problem or no answer at all is fatal."""
    code = error.code or ""
    if code in ACCESS_DENIED:
        return Finding(
            DENIED, check, f"{action}: AccessDenied: this key may not call it.",
            f"Allow {permission} in the key's IAM policy to check this (sending may still work).",
        )
    if code in KEY_PROBLEMS:
        return Finding(ERROR, check, f"{action}: {code}: {KEY_PROBLEMS[code]}", KEY_FIXES[code])
    detail = " ".join(str(error).split())
    if getattr(error, "http_status", None) is None:
        return Finding(
            ERROR, check, f"{action}: no answer: {detail}",
            "Check REGION / ENDPOINT_URL and that this machine can reach the endpoint (proxy, firewall, DNS).",
        )
    return Finding(WARNING, check, f"{action} failed: {detail}")


# -- Credentials -------------------------------------------------------------


def masked(access_key_id: str) -> str:
    return f"{access_key_id[:4]}…{access_key_id[-4:]}" if len(access_key_id) > 8 else "…"


def sts_endpoint(config) -> str:
    """STS next to SES: ``sts.REGION.amazonaws.com`` for AWS's own SES
    endpoint; the same server for any other ``ENDPOINT_URL`` (moto,
    LocalStack, a proxy answer every service on one address)."""
    default = f"https://email.{config.region}.amazonaws.com"
    if config.endpoint_url.rstrip("/") == default:
        return f"https://sts.{config.region}.amazonaws.com/"
    return config.endpoint_url.rstrip("/") + "/"


def get_caller_identity(client) -> dict[str, str]:
    """``sts:GetCallerIdentity`` signed with this client's credentials;
    raises :class:`SESError` like an SES call."""
    import requests

    from .client import environment_settings
    from .query import CONTENT_TYPE
    from .responses import parse_error, parse_result
    from .signing import sign

    url = sts_endpoint(client.config)
    body = f"Action=GetCallerIdentity&Version={STS_VERSION}".encode("ascii")
    headers = sign(
        method="POST", url=url, headers={"Content-Type": CONTENT_TYPE}, body=body,
        credentials=client.credentials(), region=client.config.region, service="sts",
    )
    with requests.Session() as session:
        session.trust_env = False
        session.proxies, session.verify = environment_settings(url)
        try:
            response = session.post(url, data=body, headers=headers, timeout=client.config.timeout, allow_redirects=False)
        except requests.RequestException as error:
            raise SESError(f"Could not reach {url}: {error}", code="ConnectionError") from None
    if not 200 <= response.status_code < 300:
        raise parse_error(response.content, response.status_code)
    return parse_result("GetCallerIdentity", response.content, response.status_code).values


def check_credentials(client) -> list[Finding]:
    check = "Credentials"
    provider = client.credentials_provider
    try:
        credentials = client.credentials()
    except SESError as error:
        return [Finding(ERROR, check, str(error), "Set ACCESS_KEY_ID and SECRET_ACCESS_KEY in SES_QUERY, or the AWS_* environment variables.")]
    source = getattr(provider, "source", type(provider).__name__)
    token = " with a session token" if credentials.session_token else ""
    findings = [Finding(INFO, check, f"Access key {masked(credentials.access_key_id)}{token}, from {source}.")]
    try:
        identity = get_caller_identity(client)
    except SESError as error:
        finding = error_finding("Account", "sts:GetCallerIdentity", error, permission="sts:GetCallerIdentity")
        if finding.status == ERROR and getattr(error, "http_status", None) is None:
            # STS unreachable says nothing about SES: the quota check tells.
            finding.status, finding.fix = WARNING, ""
        return [*findings, finding]
    findings.append(
        Finding(OK, "Account", f"Account {identity.get('Account', '?')}, {identity.get('Arn', '?')}.")
    )
    return findings


# -- Region and endpoint -----------------------------------------------------


def check_endpoint(config) -> list[Finding]:
    check = "Region"
    host = urlsplit(config.endpoint_url).hostname or ""
    findings = [Finding(INFO, check, f"Region {config.region}, endpoint {config.endpoint_url}.")]
    if host.endswith(".amazonaws.com"):
        parts = host.split(".")
        if len(parts) >= 3 and parts[1] != config.region:
            findings.append(
                Finding(
                    ERROR, check, f"The endpoint is in {parts[1]} but requests are signed for {config.region}.",
                    f"Set REGION to {parts[1]!r}, or remove ENDPOINT_URL so it follows REGION.",
                )
            )
    return findings


# -- Quota -------------------------------------------------------------------


def check_quota(client) -> tuple[list[Finding], bool]:
    """Findings, and whether the account is in the sandbox."""
    check = "Quota"
    try:
        values = client.call("GetSendQuota").result.values
    except SESError as error:
        return [error_finding(check, "GetSendQuota", error, permission="ses:GetSendQuota")], False
    try:
        max_24h = float(values["Max24HourSend"])
        rate = float(values["MaxSendRate"])
        sent = float(values.get("SentLast24Hours") or 0)
    except (KeyError, ValueError):
        return [Finding(WARNING, check, f"GetSendQuota answered without a quota: {values!r}.")], False
    findings = [
        Finding(OK, check, f"{sent:g} of {max_24h:g} messages sent in the last 24 hours, at most {rate:g} per second.")
    ]
    if 0 <= max_24h <= sent:
        findings.append(
            Finding(ERROR, check, "The 24-hour quota is used up: SES refuses sends until it frees up.",
                    "Wait, or ask for a higher quota (Service Quotas → Amazon SES → Sending quota).")
        )
    sandbox = (max_24h, rate) == SANDBOX_QUOTA
    if sandbox:
        findings.append(
            Finding(
                WARNING, "Sandbox",
                "The account is in the SES sandbox (200 messages per 24 hours, 1 per second): "
                "it can send only to verified addresses and the mailbox simulator.",
                "Request production access (SES console → Account dashboard → Request production access).",
            )
        )
    return findings, sandbox


# -- Identities --------------------------------------------------------------


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


def check_identities(client, senders, sandbox: bool) -> tuple[list[Finding], list[str]]:
    """Findings, and the verified identities that let each sender send."""
    check = "Sender"
    identities = []
    for _, address, _ in senders:
        for identity in (address, domain_of(address)):
            if identity not in identities:
                identities.append(identity)
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


def check_notifications(client, identities: list[str], topic_arns: tuple[str, ...], destinations: list[dict]) -> list[Finding]:
    """Where bounces and complaints go for each sending identity: SNS topics
    (which should be among ``EVENT_TOPIC_ARNS``), or email forwarding;
    ``destinations`` are the configuration set's SNS event destinations."""
    check = "Notifications"
    if not identities:
        return []
    try:
        result = client.call("GetIdentityNotificationAttributes", {"Identities": identities}).result
    except SESError as error:
        return [error_finding(check, "GetIdentityNotificationAttributes", error, permission="ses:GetIdentityNotificationAttributes")]
    attributes = {key.lower(): value for key, value in identity_map(result, "NotificationAttributes").items()}
    findings = []
    for identity in identities:
        value = attributes.get(identity.lower(), {})
        topics = {kind: value.get(f"{kind}Topic", "") for kind in ("Bounce", "Complaint")}
        forwarding = str(value.get("ForwardingEnabled", "")).lower() == "true"
        missing = [kind.lower() for kind, arn in topics.items() if not arn]
        if not missing:
            findings.append(Finding(OK, check, f"{identity}: bounces → {topics['Bounce']}, complaints → {topics['Complaint']}."))
        elif destinations:
            findings.append(Finding(INFO, check, f"{identity}: no {' or '.join(missing)} topic; the configuration set's event destinations carry them."))
        elif forwarding:
            findings.append(
                Finding(
                    WARNING, check,
                    f"{identity}: {' and '.join(missing)} notifications only by email (feedback forwarding): the send log's outcomes will not be updated.",
                    f"Set SNS topics for bounces and complaints (SES console → Identities → {identity} → Notifications) and subscribe this site's events endpoint.",
                )
            )
        else:
            findings.append(
                Finding(
                    WARNING, check, f"{identity}: bounce and complaint notifications are off.",
                    f"Set SNS topics (SES console → Identities → {identity} → Notifications), or turn feedback forwarding on.",
                )
            )
        for kind, arn in topics.items():
            if arn and topic_arns and arn not in topic_arns:
                findings.append(
                    Finding(
                        WARNING, check, f"{identity}: the {kind.lower()} topic {arn} is not in EVENT_TOPIC_ARNS: its notifications will be refused.",
                        f"Add {arn!r} to SES_QUERY['EVENT_TOPIC_ARNS'].",
                    )
                )
    for destination in destinations:
        arn = destination.get("SNSDestination", {}).get("TopicARN", "") if isinstance(destination.get("SNSDestination"), dict) else ""
        if arn and topic_arns and arn not in topic_arns:
            findings.append(
                Finding(
                    WARNING, check, f"Event destination {destination.get('Name', '?')}: topic {arn} is not in EVENT_TOPIC_ARNS.",
                    f"Add {arn!r} to SES_QUERY['EVENT_TOPIC_ARNS'].",
                )
            )
    return findings


# -- Configuration set --------------------------------------------------------


def check_configuration_set(client, name: str | None) -> tuple[list[Finding], list[dict]]:
    """Findings, and the set's SNS event destinations that are enabled."""
    check = "Configuration set"
    if not name:
        return [Finding(INFO, check, "None configured (CONFIGURATION_SET): SES uses the account's default, if any.")], []
    try:
        result = client.call(
            "DescribeConfigurationSet",
            {"ConfigurationSetName": name, "ConfigurationSetAttributeNames": ["eventDestinations"]},
        ).result
    except SESError as error:
        if (error.code or "").startswith("ConfigurationSetDoesNotExist"):
            return [
                Finding(
                    ERROR, check, f"{name!r} does not exist in {client.config.region}: SES refuses every send that names it.",
                    f"Create it (SES console → Configuration sets → Create set, named {name}), or change CONFIGURATION_SET.",
                )
            ], []
        return [error_finding(check, "DescribeConfigurationSet", error, permission="ses:DescribeConfigurationSet")], []
    found = structure(result, "ConfigurationSet").get("Name", name)
    destinations = [
        d for d in members(result, "EventDestinations")
        if isinstance(d.get("SNSDestination"), dict) and str(d.get("Enabled", "true")).lower() != "false"
    ]
    return [Finding(OK, check, f"{found} exists ({len(destinations)} SNS event destination{'s' if len(destinations) != 1 else ''}).")], destinations


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
    findings.append(
        Finding(INFO, "Sending", "Not tried: to prove ses:SendEmail and ses:SendRawEmail, run "
                "manage.py ses_sendtestemail --simulate success (add --attach FILE for SendRawEmail).")
    )
    return findings
