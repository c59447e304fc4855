"""Making values storable on every database: the helper the send log and
SES events share (the rows themselves are tested in test_sendlog_limits.py
and test_events_limits.py)."""

from __future__ import annotations

import pytest

from datetime import datetime, timezone

from django_ses_query.models import EmailEvent
from django_ses_query.storable import NUL_REMOVED, SURROGATES_REPLACED, fit_fields, storable


def test_nul_removed_from_every_string_keys_included():
    value = {"a\x00b": ["c\x00", ("d", "e\x00")], "n": 1, "f": None, "t": True}
    cleaned, changes = storable(value)
    assert cleaned == {"ab": ["c", ("d", "e")], "n": 1, "f": None, "t": True}
    assert changes == {NUL_REMOVED}


def test_lone_surrogates_replaced_and_other_characters_kept():
    cleaned, changes = storable(["\ud800x", {"k\udfff": "é ✓ 😀"}])
    assert cleaned == ["\ufffdx", {"k\ufffd": "é ✓ 😀"}]
    assert changes == {SURROGATES_REPLACED}


def test_a_storable_value_is_returned_as_it_is():
    value = {"mail": {"destination": ["a@example.net"], "tags": {"k": ["v"]}}, "é": "😀"}
    cleaned, changes = storable(value)
    assert cleaned is value and changes == set()


def test_fit_fields_cuts_to_the_column_and_says_each_change():
    when = datetime(2026, 1, 2, tzinfo=timezone.utc)
    fields = {
        "bounce_subtype": "s\x00" * 40,
        "diagnostic": "\ud800" + "x" * 5000,
        "timestamp": when,
        "payload": {"k\x00": "\udc00"},
    }
    notes = fit_fields(EmailEvent, fields)
    assert fields == {
        "bounce_subtype": "s" * 40,
        "diagnostic": "\ufffd" + "x" * 5000,  # A TextField: not cut.
        "timestamp": when,
        "payload": {"k": "\ufffd"},
    }
    assert notes == [
        "NUL characters removed from bounce_subtype",
        "lone surrogates replaced in diagnostic",
        "NUL characters removed from payload",
        "lone surrogates replaced in payload",
    ]
    fields = {"bounce_subtype": "s" * 65}
    assert fit_fields(EmailEvent, fields) == ["bounce_subtype cut from 65 to 64 characters"]
    assert fields == {"bounce_subtype": "s" * 64}


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "not a time", "2026-01-02T03:04:05Z" + " " * 60, None, 7])
def test_a_time_no_database_can_store_is_none(text):
    from django_ses_query.storable import timestamp

    assert timestamp(text) is None


def test_a_time_is_read_with_its_zone():
    import datetime

    from django_ses_query.storable import timestamp

    assert timestamp("2026-01-02T03:04:05.123Z") == datetime.datetime(
        2026, 1, 2, 3, 4, 5, 123000, tzinfo=datetime.timezone.utc)
