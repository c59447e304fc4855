"""What a check finds: :class:`Finding`, its levels, and the finding for a
failed AWS call."""

from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import SESError

OK, INFO, WARNING, DENIED, ERROR = "OK", "INFO", "WARNING", "DENIED", "ERROR"

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


def masked(access_key_id: str) -> str:
    return f"{access_key_id[:4]}…{access_key_id[-4:]}" if len(access_key_id) > 8 else "…"
