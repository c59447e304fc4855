"""System checks: misconfiguration found at startup, with stable ids."""

from __future__ import annotations

import ipaddress
import os
import warnings
from types import SimpleNamespace
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from .conf import OPTION_NAMES, endpoint_url_problem, get_config, unsafe_credential_names
from .credentials.chain import startup_problem
from .events import checks as _events_checks  # noqa: F401  Registers E006.

BACKEND_PATH = "django_ses_query.backend.EmailBackend"
BACKEND_PATHS = (BACKEND_PATH, "django_ses_query.backend.QueuedEmailBackend")


def _environment_credentials() -> SimpleNamespace:
    """The environment's keys as they are (settings are checked in conf)."""
    return SimpleNamespace(
        access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
        secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        session_token=os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_SECURITY_TOKEN"),
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _email_backend_is_this_one() -> bool:
    """Whether the (pre-MAILERS) EMAIL_BACKEND setting names this backend."""
    if hasattr(settings, "MAILERS") or not settings.is_overridden("EMAIL_BACKEND"):
        return False
    with warnings.catch_warnings():
        # Django 6.1 deprecates the setting; reading it here is not a use.
        warnings.simplefilter("ignore")
        return getattr(settings, "EMAIL_BACKEND", None) in BACKEND_PATHS


def _configurations():
    """(label, options) for SES_QUERY alone and for each MAILERS entry using
    this backend (its OPTIONS override SES_QUERY).

    Nothing is checked when the project neither defines SES_QUERY nor uses
    this backend (e.g. the app is installed for its admin, and development
    settings send mail to the console).
    """
    entries = []
    mailers = getattr(settings, "MAILERS", None) or {}
    for alias, entry in mailers.items():
        if isinstance(entry, dict) and entry.get("BACKEND") in BACKEND_PATHS:
            entries.append((f"MAILERS[{alias!r}]", dict(entry.get("OPTIONS") or {})))
    if hasattr(settings, "SES_QUERY") or entries or _email_backend_is_this_one():
        yield "SES_QUERY", {}
    yield from entries


@checks.register(checks.Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    errors = []
    for label, options in _configurations():
        # Django's BaseEmailBackend takes fail_silently itself.
        unknown = sorted(k for k in options if k not in OPTION_NAMES and k != "fail_silently")
        if unknown:
            errors.append(
                checks.Error(
                    f"Unknown OPTIONS: {', '.join(map(repr, unknown))}.",
                    hint=f"Known options: {', '.join(sorted(OPTION_NAMES))}.",
                    obj=label,
                    id="django_ses_query.E003",
                )
            )
            continue
        options.pop("fail_silently", None)
        try:
            config = get_config(**options)
        except ImproperlyConfigured as error:
            errors.append(checks.Error(str(error), obj=label, id="django_ses_query.E003"))
            continue
        # No network call: only whether some source of the chain could apply.
        problem = startup_problem(config)
        if problem:
            errors.append(
                checks.Error(
                    f"No AWS credentials for Amazon SES: {problem}",
                    hint="Set SES_QUERY['ACCESS_KEY_ID'] and SES_QUERY['SECRET_ACCESS_KEY'], "
                    "the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables, "
                    "an AWS profile, or run where a role provides them (see the README's "
                    "'Credentials and region').",
                    obj=label,
                    id="django_ses_query.E001",
                )
            )
        elif not (config.access_key_id or config.profile) and unsafe_credential_names(
            _environment_credentials()
        ):
            errors.append(
                checks.Error(
                    "The AWS credentials (environment) hold whitespace or a control character in "
                    f"{', '.join(unsafe_credential_names(_environment_credentials()))}.",
                    hint="Remove the trailing newline or spaces (values read from files often "
                    "end with one).",
                    obj=label,
                    id="django_ses_query.E001",
                )
            )
        problem = endpoint_url_problem(config.endpoint_url)
        url = urlsplit(config.endpoint_url) if problem is None else None
        host = (url.hostname or "") if url else ""
        if problem is not None:
            errors.append(
                checks.Error(
                    f"ENDPOINT_URL {config.endpoint_url!r} {problem}.",
                    obj=label,
                    id="django_ses_query.E004",
                )
            )
        elif host.startswith(("email-smtp.", "email-smtp-fips.")):
            errors.append(
                checks.Error(
                    f"ENDPOINT_URL {config.endpoint_url!r} is the SES SMTP interface.",
                    hint=f"Use the Query API endpoint, e.g. https://email.{config.region}.amazonaws.com "
                    "(or leave ENDPOINT_URL unset).",
                    obj=label,
                    id="django_ses_query.E002",
                )
            )
        elif url.scheme == "http" and not _is_loopback(host):
            errors.append(
                checks.Warning(
                    f"ENDPOINT_URL {config.endpoint_url!r} uses plain HTTP to a host that is "
                    "not loopback: messages and signed requests would cross the network "
                    "unencrypted.",
                    hint="Use https://.",
                    obj=label,
                    id="django_ses_query.W001",
                )
            )
        if config.log and config.log_database not in settings.DATABASES:
            errors.append(
                checks.Error(
                    f"LOG_DATABASE {config.log_database!r} is not in DATABASES.",
                    obj=label,
                    id="django_ses_query.E005",
                )
            )
        if config.max_concurrency > 1 and not (config.max_send_rate or config.send_rate_from_quota):
            errors.append(
                checks.Warning(
                    f"MAX_CONCURRENCY is {config.max_concurrency} with no rate limit: a batch "
                    "can exceed the account's sending rate and fail with Throttling.",
                    hint="Set MAX_SEND_RATE (recipients per second) or SEND_RATE_FROM_QUOTA.",
                    obj=label,
                    id="django_ses_query.W002",
                )
            )
    return errors
