"""System check E006: events configured, cryptography missing or too old."""

from __future__ import annotations

import sys

import pytest
from django.core.checks import run_checks
from django.test import override_settings

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])

BASE = {"ACCESS_KEY_ID": "AKIDEXAMPLE", "SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"


def ids(**ses_query) -> list[str]:
    with override_settings(SES_QUERY={**BASE, **ses_query}):
        return sorted(m.id for m in run_checks() if str(m.id).startswith("django_ses_query."))


@pytest.mark.parametrize(
    "options",
    [{"EVENT_TOPIC_ARNS": [TOPIC]}, {"EVENT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q"}],
)
def test_e006_events_configured_without_cryptography(monkeypatch, options):
    assert ids(**options) == []
    monkeypatch.setitem(sys.modules, "cryptography", None)  # As if not installed.
    with override_settings(SES_QUERY={**BASE, **options}):
        (message,) = [m for m in run_checks() if m.id == "django_ses_query.E006"]
    assert "cryptography" in message.msg
    assert "django-ses-query[events]" in message.hint


def test_no_events_no_e006(monkeypatch):
    monkeypatch.setitem(sys.modules, "cryptography", None)
    assert ids() == []


def test_e006_cryptography_too_old_for_the_chain_check(monkeypatch):
    import types

    old = types.ModuleType("cryptography")
    old.__version__ = "41.0.7"
    monkeypatch.setitem(sys.modules, "cryptography", old)
    with override_settings(SES_QUERY={**BASE, "EVENT_TOPIC_ARNS": [TOPIC]}):
        (message,) = [m for m in run_checks() if m.id == "django_ses_query.E006"]
    assert "41.0" in message.msg and "42" in message.msg
    old.__version__ = "42.0.0"
    assert ids(EVENT_TOPIC_ARNS=[TOPIC]) == []
