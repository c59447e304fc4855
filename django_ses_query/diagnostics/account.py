"""The account: credentials (and who they belong to), region and endpoint, quota."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..credentials.sts import get_caller_identity
from ..exceptions import SESError
from .findings import ERROR, INFO, OK, SANDBOX_QUOTA, WARNING, Finding, error_finding, masked


def sts_endpoint(config) -> str:
    """STS next to SES: ``sts.REGION.amazonaws.com`` for AWS's own SES
    endpoint; the same server for any other ``ENDPOINT_URL`` (moto,
    LocalStack, a proxy answer every service on one address)."""
    default = f"https://email.{config.region}.amazonaws.com"
    if config.endpoint_url.rstrip("/") == default:
        return f"https://sts.{config.region}.amazonaws.com/"
    return config.endpoint_url.rstrip("/") + "/"


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
        identity = get_caller_identity(
            credentials, url=sts_endpoint(client.config), region=client.config.region,
            timeout=client.config.timeout,
        )
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
