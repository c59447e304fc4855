"""System check for SES events: ``cryptography`` is needed to verify them."""

from __future__ import annotations

import importlib.util
import sys

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from ..conf import get_config


def _cryptography_installed() -> bool:
    # Found without importing it (the check runs at every manage.py start).
    if "cryptography" in sys.modules:
        return sys.modules["cryptography"] is not None
    return importlib.util.find_spec("cryptography") is not None


@checks.register(checks.Tags.compatibility)
def check_events(app_configs=None, **kwargs):
    try:
        config = get_config()
    except ImproperlyConfigured:
        return []  # E003 reports it.
    if not (config.event_topic_arns or config.event_queue_url) or _cryptography_installed():
        return []
    return [
        checks.Error(
            "SES events are configured (EVENT_TOPIC_ARNS or EVENT_QUEUE_URL) but the "
            "'cryptography' package, needed to verify SNS signatures, is not installed.",
            hint="pip install 'django-ses-query[events]'",
            obj="SES_QUERY",
            id="django_ses_query.E006",
        )
    ]
