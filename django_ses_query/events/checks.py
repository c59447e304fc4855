"""System check for SES events: ``cryptography`` 42 or later is needed to
verify them (``x509.verification`` checks the signing certificate's chain)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from ..conf import get_config

MIN_CRYPTOGRAPHY = (42,)


def _cryptography_version() -> tuple[int, ...] | None:
    """The installed version (None: not installed), found without importing
    it: the check runs at every manage.py start."""
    if "cryptography" in sys.modules:
        module = sys.modules["cryptography"]
        if module is None:
            return None
        version = getattr(module, "__version__", "")
    elif importlib.util.find_spec("cryptography") is None:
        return None
    else:
        try:
            version = importlib.metadata.version("cryptography")
        except importlib.metadata.PackageNotFoundError:
            version = ""
    parts = []
    for part in str(version).split(".")[:2]:
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts) or MIN_CRYPTOGRAPHY  # Unknown: assume a recent one.


@checks.register(checks.Tags.compatibility)
def check_events(app_configs=None, **kwargs):
    try:
        config = get_config()
    except ImproperlyConfigured:
        return []  # E003 reports it.
    if not (config.event_topic_arns or config.event_queue_url):
        return []
    version = _cryptography_version()
    if version is None:
        problem = "is not installed"
    elif version < MIN_CRYPTOGRAPHY:
        problem = f"is version {'.'.join(map(str, version))}; 42 or later is needed"
    else:
        return []
    return [
        checks.Error(
            "SES events are configured (EVENT_TOPIC_ARNS or EVENT_QUEUE_URL) but the "
            f"'cryptography' package, needed to verify SNS signatures and certificates, {problem}.",
            hint="pip install 'django-ses-query[events]'",
            obj="SES_QUERY",
            id="django_ses_query.E006",
        )
    ]
