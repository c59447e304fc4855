"""The single place settings are read.

Precedence: backend keyword arguments (lower-case) → ``settings.SES_QUERY``
(upper-case keys) → the environment (credentials and region only) → defaults.
Django's own ``EMAIL_*`` settings are never read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .credentials import CredentialsProvider, default_provider

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Config:
    """Resolved settings for one backend instance."""

    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint_url: str | None = None
    configuration_set: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    # Send log.
    log: bool | str = True
    log_body: bool = False
    log_database: str = "default"
    # Delivery.
    max_retries: int = 3
    retry_budget: float = 30.0
    retry_unknown_outcome: bool = False
    max_send_rate: float | None = None
    send_rate_from_quota: bool = False
    rate_limit_cache: str | None = None
    max_concurrency: int = 1

    def __post_init__(self) -> None:
        region = (
            self.region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or DEFAULT_REGION
        )
        object.__setattr__(self, "region", region)
        if not self.endpoint_url:
            object.__setattr__(self, "endpoint_url", f"https://email.{region}.amazonaws.com")
        if isinstance(self.tags, Mapping):
            object.__setattr__(self, "tags", dict(self.tags))
        elif not self.tags:
            object.__setattr__(self, "tags", {})
        self._validate()

    def _validate(self) -> None:
        from .params import validate_configuration_set, validate_tags

        problems = []
        if self.log not in (True, False, "failures"):
            problems.append(f"LOG must be True, False or 'failures', not {self.log!r}")
        for name in ("access_key_id", "secret_access_key", "session_token"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                # Never the value: it may be the secret.
                problems.append(f"{name.upper()} must be a string")
        for name in ("region", "endpoint_url"):
            if not isinstance(getattr(self, name), str):
                problems.append(f"{name.upper()} must be a string, not {getattr(self, name)!r}")
        if not isinstance(self.tags, dict):
            problems.append(f"TAGS must be a dict of tag name to value, not {self.tags!r}")
        else:
            try:
                validate_tags(self.tags)
            except ValueError as error:
                problems.append(f"TAGS: {error.message.rstrip('.')}")
        if self.configuration_set not in (None, ""):
            try:
                validate_configuration_set(self.configuration_set)
            except (ValueError, TypeError):
                problems.append(
                    "CONFIGURATION_SET must be None or 1 to 64 ASCII letters, digits, '_' or '-', "
                    f"not {self.configuration_set!r}"
                )
        for name in ("timeout", "retry_budget"):
            value = getattr(self, name)
            if not _is_number(value) or value <= 0:
                problems.append(f"{name.upper()} must be a positive number, not {value!r}")
        if not _is_integer(self.max_retries) or self.max_retries < 0:
            problems.append(f"MAX_RETRIES must be an integer >= 0, not {self.max_retries!r}")
        if not _is_integer(self.max_concurrency) or self.max_concurrency < 1:
            problems.append(
                f"MAX_CONCURRENCY must be an integer >= 1, not {self.max_concurrency!r}"
            )
        if self.max_send_rate is not None and (
            not _is_number(self.max_send_rate) or self.max_send_rate <= 0
        ):
            problems.append(
                f"MAX_SEND_RATE must be a positive number or None, not {self.max_send_rate!r}"
            )
        if problems:
            raise ImproperlyConfigured("SES_QUERY: " + "; ".join(problems) + ".")

    @property
    def credentials_provider(self) -> CredentialsProvider:
        return default_provider(self.access_key_id, self.secret_access_key, self.session_token)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


#: Lower-case option names: the ``SES_QUERY`` keys, and the backend's
#: keyword arguments.
OPTION_NAMES = frozenset(f.name for f in fields(Config))


def settings_dict() -> dict[str, Any]:
    value = getattr(settings, "SES_QUERY", None) or {}
    if not isinstance(value, dict):
        raise ImproperlyConfigured("The SES_QUERY setting must be a dict.")
    return value


def unknown_setting_keys(value: dict[str, Any]) -> list[str]:
    return sorted(
        str(key) for key in value if str(key).lower() not in OPTION_NAMES or key != str(key).upper()
    )


def get_config(**overrides: Any) -> Config:
    """Merge ``SES_QUERY`` with keyword ``overrides`` (which win)."""
    configured = settings_dict()
    unknown = unknown_setting_keys(configured)
    if unknown:
        raise ImproperlyConfigured(
            f"SES_QUERY has unknown keys: {', '.join(unknown)}. "
            f"Known keys: {', '.join(sorted(n.upper() for n in OPTION_NAMES))}."
        )
    values = {key.lower(): value for key, value in configured.items()}
    values.update(overrides)
    return Config(**values)
