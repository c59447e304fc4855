"""Credentials, the provider interface, and what every source shares.

A *provider* answers ``get_credentials()`` each time a request is signed, so
providers whose credentials expire (roles) can refresh them in place. A
*source* (one module each: ``env``, ``profile``, ``roles``, ``container``,
``imds``) is one step of the chain: ``load()`` returns credentials, raises
:class:`NoCredentials` saying why it has none, or raises
:class:`~django_ses_query.exceptions.SESConfigurationError` when it applies
but fails (a role that cannot be assumed, a metadata answer that is not
credentials).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..conf import unsafe_credential_names
from ..exceptions import SESConfigurationError


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    #: When temporary credentials stop working (seconds since the epoch),
    #: None for long-term keys.
    expiration: float | None = None

    def __repr__(self) -> str:
        token = ", session_token=<redacted>" if self.session_token else ""
        expires = f", expiration={format_time(self.expiration)}" if self.expiration is not None else ""
        return (
            f"Credentials(access_key_id={self.access_key_id!r}, "
            f"secret_access_key=<redacted>{token}{expires})"
        )


class CredentialsProvider:
    """Base class: subclasses return :class:`Credentials` or None."""

    #: Shown in checks and command output to say where credentials come from.
    source = "unknown"

    def get_credentials(self) -> Credentials | None:
        raise NotImplementedError

    def refresh(self) -> bool:
        """Fetch new credentials now (SES answered ``ExpiredToken``).

        True when there may be new ones to retry with."""
        return False


class StaticCredentialsProvider(CredentialsProvider):
    """Credentials given in ``SES_QUERY`` or as backend keyword arguments."""

    source = "settings"

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def get_credentials(self) -> Credentials:
        return self._credentials


class NoCredentials(Exception):
    """A source has nothing to give; ``str()`` says why (never a secret)."""


def credentials_error(message: str, code: str = "CredentialsFetchError") -> SESConfigurationError:
    return SESConfigurationError(message, code=code)


# --------------------------------------------------------------------------
# What the JSON and XML answers of credential sources have in common
# --------------------------------------------------------------------------

_ISO8601 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$"
)


def parse_time(text: str) -> float:
    """An ISO 8601 time (``2026-01-01T12:00:00Z``, with or without fractions
    or an offset; UTC when none) as seconds since the epoch."""
    match = _ISO8601.match(text.strip())
    if not match:
        raise ValueError(f"not an ISO 8601 time: {text[:40]!r}")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = float(f"0.{match.group(7)}") if match.group(7) else 0.0
    moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc).timestamp()
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
        moment -= offset if match.group(9) == "+" else -offset
    return moment + fraction


def format_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_mapping(data: object, what: str, *, token_key: str = "Token", need_expiration: bool = False) -> Credentials:
    """Credentials from a decoded JSON object (container endpoint, IMDS,
    ``credential_process``): checks the fields, never shows their values."""
    if not isinstance(data, dict):
        raise credentials_error(f"{what} did not answer with a JSON object.")
    access_key_id = data.get("AccessKeyId")
    secret = data.get("SecretAccessKey")
    token = data.get(token_key)
    missing = [name for name, value in (("AccessKeyId", access_key_id), ("SecretAccessKey", secret)) if not value]
    if missing:
        raise credentials_error(f"{what} answered without {' and '.join(missing)}.")
    for name, value in (("AccessKeyId", access_key_id), ("SecretAccessKey", secret), (token_key, token)):
        if value is not None and (not isinstance(value, str) or _unsafe(value)):
            raise credentials_error(f"{what} answered with an unusable {name} (not a single-line string).")
    expiration = data.get("Expiration")
    if expiration is None:
        if need_expiration:
            raise credentials_error(f"{what} answered without Expiration.")
        moment = None
    else:
        try:
            moment = parse_time(str(expiration))
        except ValueError:
            raise credentials_error(f"{what} answered with an Expiration that is not an ISO 8601 time.") from None
    return Credentials(access_key_id, secret, token or None, moment)


def _unsafe(value: str) -> bool:
    return not value or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value)


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with each of ``secrets`` replaced (for errors built from a
    remote answer that might echo what was sent)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def usable_credentials(provider: CredentialsProvider) -> Credentials:
    """The provider's credentials, checked before they are used to sign:
    :class:`SESConfigurationError` (``MissingCredentials``,
    ``InvalidCredentials``) otherwise. Never quotes a value."""
    credentials = provider.get_credentials()
    if credentials is None or not credentials.access_key_id or not credentials.secret_access_key:
        raise SESConfigurationError(
            "No AWS credentials: set SES_QUERY['ACCESS_KEY_ID'] and "
            "SES_QUERY['SECRET_ACCESS_KEY'], or the AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY environment variables.",
            code="MissingCredentials",
        )
    unsafe = unsafe_credential_names(credentials)
    if unsafe:
        # HTTP would refuse the header; never quote the value.
        raise SESConfigurationError(
            f"The AWS credentials ({provider.source}) hold whitespace or a "
            f"control character in {', '.join(unsafe)} (a trailing newline from a file?); "
            "nothing was sent.",
            code="InvalidCredentials",
        )
    return credentials
