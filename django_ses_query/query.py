"""The AWS Query protocol: nested parameters to a form-encoded body.

Lists are written ``Name.member.N`` (1-based) and structures ``Name.Field``,
in the order given, as SES (and botocore's query serializer) write them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

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
        if type(value) is dict or isinstance(value, Mapping):
            pairs.extend(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value, start=1):
                member = f"{name}.member.{index}"
                if type(item) is dict or isinstance(item, Mapping):
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


#: What ``quote_plus()`` writes for each byte: the unreserved characters
#: (letters, digits, ``_.-~``) as they are, a space as ``+``, every other byte
#: as ``%XX``. Used with ``str.translate`` on the UTF-8 bytes read as Latin-1,
#: which is much faster than ``quote_plus()`` on long values.
_FORM_BYTES = [
    chr(byte) if chr(byte).isascii() and (chr(byte).isalnum() or chr(byte) in "_.-~")
    else "+" if byte == 0x20 else f"%{byte:02X}"
    for byte in range(256)
]


def _form_quote(value: Any) -> str:
    """``urllib.parse.quote_plus(str(value))`` (UTF-8), as ``urlencode`` does it."""
    if isinstance(value, bytes):
        data = value
    else:
        data = (value if isinstance(value, str) else str(value)).encode("utf-8")
    return data.decode("latin-1").translate(_FORM_BYTES)


#: Parameter names repeat from call to call (``Destination.ToAddresses.member.1``...).
_form_quote_name = lru_cache(maxsize=512)(_form_quote)


def encode(action: str, params: Mapping[str, Any] | Iterable[tuple[str, str]] = ()) -> bytes:
    """The UTF-8 form body of one Query API call: what ``urlencode(pairs,
    encoding="utf-8")`` gives, byte for byte."""
    flat = flatten(params) if isinstance(params, Mapping) else list(params)
    pairs = [("Action", action), ("Version", API_VERSION), *flat]
    return "&".join([
        f"{_form_quote_name(name) if type(name) is str else _form_quote(name)}={_form_quote(value)}"
        for name, value in pairs
    ]).encode("ascii")
