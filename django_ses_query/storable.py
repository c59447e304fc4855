"""Values made storable on every database Django supports, before a row is
saved.

Trusts nothing in the values (SES's answers, an event's JSON, a message's
headers). Checks for what a database refuses: NUL characters (PostgreSQL
refuses them in text and in JSON), lone surrogates (no database stores
them: they are not UTF-8), and text longer than its column's
``max_length`` (which PostgreSQL enforces). Pure: no I/O. What was changed is
returned, for the caller to say (never silently).
"""

from __future__ import annotations

import re
from typing import Any

NUL_REMOVED = "NUL characters removed"
SURROGATES_REPLACED = "lone surrogates replaced"

_SURROGATE = re.compile("[\ud800-\udfff]")
#: What takes a lone surrogate's place (U+FFFD, as a decoder's "replace").
REPLACEMENT = "\ufffd"


def storable(value: Any) -> tuple[Any, set[str]]:
    """``value`` without NUL characters and with lone surrogates replaced,
    in every string of it (lists, tuples and dicts, keys included), and the
    set of changes made (``NUL_REMOVED``, ``SURROGATES_REPLACED``). An
    unchanged value is returned as it is."""
    changes: set[str] = set()

    def text(string: str) -> str:
        if "\x00" in string:
            string = string.replace("\x00", "")
            changes.add(NUL_REMOVED)
        if not string.isascii() and _SURROGATE.search(string):
            string = _SURROGATE.sub(REPLACEMENT, string)
            changes.add(SURROGATES_REPLACED)
        return string

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return text(item)
        if isinstance(item, (list, tuple)):
            cleaned = [walk(v) for v in item]
            return item if all(a is b for a, b in zip(cleaned, item)) else type(item)(cleaned)
        if isinstance(item, dict):
            pairs = [(walk(k), walk(v)) for k, v in item.items()]
            if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, item.items())):
                return item
            return dict(pairs)
        return item

    return walk(value), changes


def fit_fields(model, fields: dict[str, Any]) -> list[str]:
    """Make ``fields`` (a row of ``model``, by field name) storable, in
    place: see :func:`storable`, and text cut to its column's ``max_length``.
    Returns what was changed, one note per change and field."""
    notes = []
    for name, value in fields.items():
        cleaned, changes = storable(value)
        if NUL_REMOVED in changes:
            notes.append(f"{NUL_REMOVED} from {name}")
        if SURROGATES_REPLACED in changes:
            notes.append(f"{SURROGATES_REPLACED} in {name}")
        max_length = getattr(model._meta.get_field(name), "max_length", None)
        if max_length and isinstance(cleaned, str) and len(cleaned) > max_length:
            notes.append(f"{name} cut from {len(cleaned)} to {max_length} characters")
            cleaned = cleaned[:max_length]
        fields[name] = cleaned
    return notes


def timestamp(value: Any):
    """An ISO 8601 time from outside as a ``datetime`` a database can store,
    or None: not a string of at most 64 characters, not a time, or one whose
    UTC time is out of range (``0001-01-01T00:00:00+01:00``)."""
    from datetime import timezone

    from django.utils.dateparse import parse_datetime

    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = parse_datetime(value)
        if parsed is not None and parsed.tzinfo is not None:
            parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None
    return parsed
