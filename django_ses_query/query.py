"""The AWS Query protocol: nested parameters to a form-encoded body.

Lists are written ``Name.member.N`` (1-based) and structures ``Name.Field``,
in the order given, as SES (and botocore's query serializer) write them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

API_VERSION = "2010-12-01"
CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"


def flatten(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``{"Destination": {"ToAddresses": ["a@example.com"]}}`` →
    ``[("Destination.ToAddresses.member.1", "a@example.com")]``.

    None values and empty lists are left out, as SES expects.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}{key}"
        if value is None:
            continue
        if isinstance(value, Mapping):
            pairs.extend(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value, start=1):
                member = f"{name}.member.{index}"
                if isinstance(item, Mapping):
                    pairs.extend(flatten(item, f"{member}."))
                else:
                    pairs.append((member, _text(item)))
        else:
            pairs.append((name, _text(value)))
    return pairs


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode(action: str, params: Mapping[str, Any] | Iterable[tuple[str, str]] = ()) -> bytes:
    """The UTF-8 form body of one Query API call."""
    flat = flatten(params) if isinstance(params, Mapping) else list(params)
    pairs = [("Action", action), ("Version", API_VERSION), *flat]
    return urlencode(pairs, encoding="utf-8").encode("ascii")
