"""Where AWS credentials come from.

A *provider* answers ``get_credentials()`` each time a request is signed, so
providers whose credentials expire (IAM roles) can refresh them in place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        token = ", session_token=<redacted>" if self.session_token else ""
        return (
            f"Credentials(access_key_id={self.access_key_id!r}, "
            f"secret_access_key=<redacted>{token})"
        )


class CredentialsProvider:
    """Base class: subclasses return :class:`Credentials` or None."""

    #: Shown in checks and command output to say where credentials come from.
    source = "unknown"

    def get_credentials(self) -> Credentials | None:
        raise NotImplementedError


class StaticCredentialsProvider(CredentialsProvider):
    """Credentials given in ``SES_QUERY`` or as backend keyword arguments."""

    source = "settings"

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def get_credentials(self) -> Credentials:
        return self._credentials


class EnvironmentCredentialsProvider(CredentialsProvider):
    """The standard ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` /
    ``AWS_SESSION_TOKEN`` environment variables, read at each request."""

    source = "environment"

    def get_credentials(self) -> Credentials | None:
        access_key_id = os.environ.get("AWS_ACCESS_KEY_ID")
        secret_access_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not access_key_id or not secret_access_key:
            return None
        return Credentials(
            access_key_id, secret_access_key, os.environ.get("AWS_SESSION_TOKEN") or None
        )


def default_provider(
    access_key_id: str | None,
    secret_access_key: str | None,
    session_token: str | None = None,
) -> CredentialsProvider:
    """Settings first; the environment when settings name no key."""
    if access_key_id or secret_access_key:
        return StaticCredentialsProvider(
            Credentials(access_key_id or "", secret_access_key or "", session_token or None)
        )
    return EnvironmentCredentialsProvider()
