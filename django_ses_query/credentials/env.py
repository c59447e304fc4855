"""Credentials from the environment: ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, and ``AWS_SESSION_TOKEN`` (or its legacy alias
``AWS_SECURITY_TOKEN``).

Trusts the process environment; checks that both the key id and the secret
are set. Read again at every signature, so a process that rotates them in
its environment is followed.
"""

from __future__ import annotations

import os

from .base import Credentials, CredentialsProvider, NoCredentials


class EnvironmentCredentialsProvider(CredentialsProvider):
    """The standard ``AWS_*`` environment variables, read at each request."""

    name = source = "environment"

    def get_credentials(self) -> Credentials | None:
        try:
            return self.load()
        except NoCredentials:
            return None

    def load(self) -> Credentials:
        access_key_id = os.environ.get("AWS_ACCESS_KEY_ID")
        secret_access_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not access_key_id and not secret_access_key:
            raise NoCredentials("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
        if not access_key_id or not secret_access_key:
            unset = "AWS_ACCESS_KEY_ID" if not access_key_id else "AWS_SECRET_ACCESS_KEY"
            raise NoCredentials(f"{unset} is not set")
        token = os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_SECURITY_TOKEN") or None
        return Credentials(access_key_id, secret_access_key, token)

    @staticmethod
    def applies() -> bool:
        return bool(os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"))
