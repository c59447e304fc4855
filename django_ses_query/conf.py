"""The single place settings are read.

Precedence: backend keyword arguments (lower-case) → ``settings.SES_QUERY``
(upper-case keys) → the environment and the AWS profile (region only; the
credentials chain in ``credentials/`` reads the rest) → defaults.
Django's own ``EMAIL_*`` settings are never read.

Every value is checked by type here, so that ``"False"`` can never turn an
option on: a bad value raises ``ImproperlyConfigured`` naming the setting
(system check E003 reports the same message at startup).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

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
    # Credentials beyond static keys.
    profile: str | None = None
    role_arn: str | None = None
    role_session_name: str | None = None
    external_id: str | None = field(default=None, repr=False)
    role_duration: int = 3600
    # Send log.
    log: bool | str = True
    log_body: bool = False
    log_database: str = "default"
    log_commit_rows: int = 100
    log_commit_seconds: float = 0.5
    # Delivery.
    max_retries: int = 3
    retry_budget: float = 30.0
    retry_unknown_outcome: bool = False
    max_send_rate: float | None = None
    send_rate_from_quota: bool = False
    rate_limit_cache: str | None = None
    max_concurrency: int = 1
    # Events and suppression.
    event_topic_arns: tuple[str, ...] = ()
    event_basic_auth: str | None = field(default=None, repr=False)
    event_queue_url: str | None = None
    event_max_age_days: int | None = 14
    event_min_signature_version: int = 1
    suppression: bool = False
    # Inbound mail (SES receiving).
    inbound_store_raw: bool = False
    inbound_max_bytes: int = 40 * 1024 * 1024
    inbound_discard_on_fail: tuple[str, ...] = ()
    # Queued sending.
    task_backend: str = "default"
    task_queue: str = "default"
    task_priority: int | None = None
    # One-click unsubscribe.
    unsubscribe_topic: str = ""
    unsubscribe_base_url: str | None = None
    unsubscribe_mailto: str | None = None
    # Stored templates kept in the repository (``manage.py ses_templates``).
    templates: dict[str, dict] = field(default_factory=dict)
    task_chunk_size: int | None = None

    def __post_init__(self) -> None:
        self._validate_types()
        region = (
            self.region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or _profile_region(self.profile)
            or DEFAULT_REGION
        )
        object.__setattr__(self, "region", region)
        if not self.endpoint_url:
            object.__setattr__(self, "endpoint_url", f"https://email.{region}.amazonaws.com")
        object.__setattr__(self, "tags", dict(self.tags or {}))
        object.__setattr__(self, "event_topic_arns", tuple(self.event_topic_arns or ()))
        object.__setattr__(self, "inbound_discard_on_fail", tuple(self.inbound_discard_on_fail or ()))
        if self.unsubscribe_base_url:
            object.__setattr__(self, "unsubscribe_base_url", self.unsubscribe_base_url.rstrip("/"))
        object.__setattr__(self, "templates", dict(self.templates or {}))
        self._validate_values()

    def _validate_types(self) -> None:
        problems = []
        for name, (kinds, description) in _TYPES.items():
            value = getattr(self, name)
            if not _is_a(value, kinds):
                problems.append(f"{name.upper()} must be {description}, not {_shown(name, value)}")
        if problems:
            raise ImproperlyConfigured("SES_QUERY: " + "; ".join(problems) + ".")

    def _validate_values(self) -> None:
        from .params import validate_configuration_set, validate_tags
        from .topics import base_url_problem, mailto_problem, topic_problem

        problems = []
        if self.log not in (True, False, "failures"):
            problems.append(f"LOG must be True, False or 'failures', not {self.log!r}")
        for name in ("access_key_id", "secret_access_key", "session_token"):
            value = getattr(self, name)
            if value is not None and _has_unsafe_characters(value):
                # Never the value: it may be the secret.
                problems.append(
                    f"{name.upper()} contains whitespace or a control character "
                    "(a trailing newline from a file?)"
                )
        try:
            validate_tags(self.tags)
        except ValueError as error:
            problems.append(f"TAGS: {error.message.rstrip('.')}")
        if self.configuration_set not in (None, ""):
            try:
                validate_configuration_set(self.configuration_set)
            except ValueError:
                problems.append(
                    "CONFIGURATION_SET must be None or 1 to 64 ASCII letters, digits, '_' or '-', "
                    f"not {self.configuration_set!r}"
                )
        for name in ("timeout", "retry_budget", "log_commit_seconds"):
            if getattr(self, name) <= 0:
                problems.append(f"{name.upper()} must be a positive number, not {getattr(self, name)!r}")
        for name, minimum in (("max_retries", 0), ("max_concurrency", 1), ("log_commit_rows", 1)):
            if getattr(self, name) < minimum:
                problems.append(f"{name.upper()} must be an integer >= {minimum}, not {getattr(self, name)!r}")
        if self.task_chunk_size is not None and not 1 <= self.task_chunk_size <= MAX_TASK_CHUNK_SIZE:
            problems.append(
                f"TASK_CHUNK_SIZE must be None (automatic) or an integer from 1 to {MAX_TASK_CHUNK_SIZE}, "
                f"not {self.task_chunk_size!r}"
            )
        if self.max_send_rate is not None and self.max_send_rate <= 0:
            problems.append(
                f"MAX_SEND_RATE must be a positive number or None, not {self.max_send_rate!r}"
            )
        if not 900 <= self.role_duration <= 43200:
            problems.append(f"ROLE_DURATION must be 900 to 43200 seconds, not {self.role_duration!r}")
        if self.event_basic_auth is not None and ":" not in self.event_basic_auth:
            problems.append("EVENT_BASIC_AUTH must be 'user:password'")
        if self.event_max_age_days is not None and self.event_max_age_days < 1:
            problems.append(
                f"EVENT_MAX_AGE_DAYS must be a number of days >= 1 or None, not {self.event_max_age_days!r}"
            )
        if self.event_min_signature_version not in (1, 2):
            problems.append(
                f"EVENT_MIN_SIGNATURE_VERSION must be 1 or 2, not {self.event_min_signature_version!r}"
            )
        for arn in self.event_topic_arns:
            if not isinstance(arn, str) or not arn.startswith("arn:"):
                problems.append(f"EVENT_TOPIC_ARNS must hold SNS topic ARNs, not {arn!r}")
        if self.inbound_max_bytes < 1:
            problems.append(f"INBOUND_MAX_BYTES must be an integer >= 1, not {self.inbound_max_bytes!r}")
        for verdict in self.inbound_discard_on_fail:
            if verdict not in INBOUND_VERDICTS:
                problems.append(f"INBOUND_DISCARD_ON_FAIL may hold 'spam' and 'virus', not {verdict!r}")
        if self.unsubscribe_topic and topic_problem(self.unsubscribe_topic):
            problems.append(f"UNSUBSCRIBE_TOPIC {topic_problem(self.unsubscribe_topic)}")
        if self.unsubscribe_base_url is not None and base_url_problem(self.unsubscribe_base_url):
            problems.append(
                f"UNSUBSCRIBE_BASE_URL {self.unsubscribe_base_url!r} {base_url_problem(self.unsubscribe_base_url)}"
            )
        if self.unsubscribe_mailto is not None and mailto_problem(self.unsubscribe_mailto):
            problems.append(f"UNSUBSCRIBE_MAILTO {self.unsubscribe_mailto!r} {mailto_problem(self.unsubscribe_mailto)}")
        problems.extend(template_problems(self.templates))
        if problems:
            raise ImproperlyConfigured("SES_QUERY: " + "; ".join(problems) + ".")


#: The verdicts ``INBOUND_DISCARD_ON_FAIL`` may name.
INBOUND_VERDICTS = ("spam", "virus")

#: The keys of a ``TEMPLATES`` entry.
TEMPLATE_KEYS = ("subject", "text", "html")


def template_problems(templates: Mapping) -> list[str]:
    """What is wrong with ``TEMPLATES``, each naming the template and the key."""
    from .params import validate_template_name

    problems = []
    for name, spec in templates.items():
        try:
            validate_template_name(name)
        except ValueError as error:
            problems.append(f"TEMPLATES: {error.message.rstrip('.')}")
        if not isinstance(spec, Mapping):
            problems.append(f"TEMPLATES[{name!r}] must be a dict with 'subject' and 'text' and/or 'html'")
            continue
        for key in spec:
            if key not in TEMPLATE_KEYS:
                problems.append(
                    f"TEMPLATES[{name!r}] has an unknown key {key!r} (known: {', '.join(TEMPLATE_KEYS)})"
                )
        if not isinstance(spec.get("subject"), str) or not spec.get("subject"):
            problems.append(f"TEMPLATES[{name!r}][{'subject'!r}] is required: the subject (SES syntax)")
        if spec.get("text") is None and spec.get("html") is None:
            problems.append(f"TEMPLATES[{name!r}] needs 'text' and/or 'html' (a file name)")
        for key in ("text", "html"):
            if spec.get(key) is not None and (not isinstance(spec[key], str) or not spec[key]):
                problems.append(f"TEMPLATES[{name!r}][{key!r}] must be a file name, not {spec[key]!r}")
    return problems


#: The most rows one queued task sends.
MAX_TASK_CHUNK_SIZE = 1000


def chunk_size(config: Config) -> int:
    """Rows per queued task: ``TASK_CHUNK_SIZE``, or automatically one row
    while ``MAX_CONCURRENCY`` is 1, else ``min(10 x MAX_CONCURRENCY, 1000)``."""
    if config.task_chunk_size is not None:
        return config.task_chunk_size
    if config.max_concurrency <= 1:
        return 1
    return min(10 * config.max_concurrency, MAX_TASK_CHUNK_SIZE)


def _profile_region(profile: str | None) -> str | None:
    """The selected AWS profile's ``region`` (a file read, no network)."""
    from .awsfiles import configured_region

    return configured_region(profile)


def _is_a(value: Any, kinds: tuple) -> bool:
    if isinstance(value, bool) and bool not in kinds:
        return False  # True is an int to Python, not to a setting.
    return isinstance(value, kinds)


_OPTIONAL_TEXT = ((str, type(None)), "a string or None")
_TEXT = ((str,), "a string")
_FLAG = ((bool,), "True or False")
_NUMBER = ((int, float), "a number")
_INTEGER = ((int,), "an integer")

#: The type each setting must have (checked before anything else).
_TYPES: dict[str, tuple[tuple, str]] = {
    "access_key_id": _OPTIONAL_TEXT,
    "secret_access_key": _OPTIONAL_TEXT,
    "session_token": _OPTIONAL_TEXT,
    "region": _OPTIONAL_TEXT,
    "endpoint_url": _OPTIONAL_TEXT,
    "configuration_set": _OPTIONAL_TEXT,
    "tags": ((Mapping, type(None)), "a dict of tag name to value"),
    "timeout": _NUMBER,
    "profile": _OPTIONAL_TEXT,
    "role_arn": _OPTIONAL_TEXT,
    "role_session_name": _OPTIONAL_TEXT,
    "external_id": _OPTIONAL_TEXT,
    "role_duration": _INTEGER,
    "log": ((bool, str), "True, False or 'failures'"),
    "log_body": _FLAG,
    "log_database": _TEXT,
    "log_commit_rows": _INTEGER,
    "log_commit_seconds": _NUMBER,
    "max_retries": _INTEGER,
    "retry_budget": _NUMBER,
    "retry_unknown_outcome": _FLAG,
    "max_send_rate": ((int, float, type(None)), "a positive number or None"),
    "send_rate_from_quota": _FLAG,
    "rate_limit_cache": _OPTIONAL_TEXT,
    "max_concurrency": _INTEGER,
    "event_topic_arns": ((list, tuple), "a list of SNS topic ARNs"),
    "event_basic_auth": _OPTIONAL_TEXT,
    "event_queue_url": _OPTIONAL_TEXT,
    "event_max_age_days": ((int, type(None)), "a number of days (an integer) or None"),
    "event_min_signature_version": ((int,), "1 or 2"),
    "suppression": _FLAG,
    "inbound_store_raw": _FLAG,
    "inbound_max_bytes": _INTEGER,
    "inbound_discard_on_fail": ((list, tuple), "a list of 'spam' and 'virus'"),
    "task_backend": _TEXT,
    "task_queue": _TEXT,
    "task_priority": ((int, type(None)), "an integer or None"),
    "unsubscribe_topic": _TEXT,
    "unsubscribe_base_url": _OPTIONAL_TEXT,
    "unsubscribe_mailto": _OPTIONAL_TEXT,
    "templates": ((Mapping, type(None)), "a dict of template name to {'subject', 'text', 'html'}"),
    "task_chunk_size": ((int, type(None)), f"None (automatic) or an integer from 1 to {MAX_TASK_CHUNK_SIZE}"),
}

#: Settings whose value is never shown, even in an error about its type.
SECRET_OPTIONS = frozenset({"secret_access_key", "session_token", "event_basic_auth", "external_id"})


def _shown(name: str, value: Any) -> str:
    if name in SECRET_OPTIONS:
        return f"a {type(value).__name__}"
    return repr(value)


def _has_unsafe_characters(value: str) -> bool:
    """Whitespace or control characters: HTTP refuses them in a header."""
    return any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value)


def endpoint_url_problem(url: str) -> str | None:
    """What is wrong with ``ENDPOINT_URL`` (None: nothing), in words that
    follow "ENDPOINT_URL '...' ". The one place the URL is checked: system
    check E004 at startup, ``SESConfigurationError`` at send time."""
    from urllib.parse import urlsplit

    if _has_unsafe_characters(url):
        return "contains whitespace or a control character"
    try:
        parts = urlsplit(url)
        port = parts.port  # Raises for a port out of range or not a number.
    except ValueError as error:
        return f"is not a valid URL ({error})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL"
    if not parts.hostname.isascii():
        return "has a non-ASCII host: write it in its ASCII (punycode) form"
    if port == 0:
        return "has port 0"
    if parts.username is not None or parts.password is not None:
        # requests would send them as Basic auth instead of the signature.
        return "holds a user name or password"
    return None


def unsafe_credential_names(credentials) -> list[str]:
    """Which of the credentials' values (from any source: settings, the
    environment, a file) hold whitespace or a control character, e.g. a
    trailing newline: their names, never their values."""
    return [
        name
        for name, value in (
            ("AWS_ACCESS_KEY_ID", credentials.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key),
            ("AWS_SESSION_TOKEN", credentials.session_token),
        )
        if value and _has_unsafe_characters(value)
    ]


#: Lower-case option names: the ``SES_QUERY`` keys, and the backend's
#: keyword arguments.
OPTION_NAMES = frozenset(f.name for f in fields(Config))
assert OPTION_NAMES == set(_TYPES), "every setting has a type"


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
