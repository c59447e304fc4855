"""Where AWS credentials come from: botocore's chain, without botocore.

``base`` holds :class:`Credentials` and the provider interface; ``chain``
resolves the sources in order (``env``, ``roles`` with ``sts``, ``profile``,
``container``, ``imds``); ``refresh`` keeps temporary credentials fresh.
Importing this package imports none of the sources (nor ``requests``).
"""

from __future__ import annotations

from .base import Credentials, CredentialsProvider, NoCredentials, StaticCredentialsProvider
from .env import EnvironmentCredentialsProvider

__all__ = [
    "Credentials",
    "CredentialsProvider",
    "EnvironmentCredentialsProvider",
    "NoCredentials",
    "StaticCredentialsProvider",
    "default_provider",
    "provider_for",
]


def provider_for(config) -> CredentialsProvider:
    """The (shared) provider for a :class:`~django_ses_query.conf.Config`."""
    from .chain import provider_for

    return provider_for(config)


def default_provider(
    access_key_id: str | None,
    secret_access_key: str | None,
    session_token: str | None = None,
) -> CredentialsProvider:
    """Settings' keys when given, else the environment's (no other source)."""
    if access_key_id or secret_access_key:
        return StaticCredentialsProvider(
            Credentials(access_key_id or "", secret_access_key or "", session_token or None)
        )
    return EnvironmentCredentialsProvider()
