"""Values from outside (an SNS message's fields, headers, the client address,
exception texts quoting them) made safe to write in a log line.

Trusts nothing in what it is given. Every character that is not printable is
escaped as ``repr()`` escapes it: the line breaks ``str.splitlines()`` splits
on (``\\n``, ``\\r``, ``\\x0b``, ``\\x0c``, ``\\x1c``-``\\x1e``, ``\\x85``,
``\\u2028``, ``\\u2029``), every other control character, and the invisible
format characters; the text is then cut. No value can start a log line of its
own. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

#: A value is cut after this many characters (of its escaped form).
VALUE_LIMIT = 200
#: A whole text (an exception's message, which quotes values) after this many.
TEXT_LIMIT = 1000
CUT = "...[cut]"


def shown(value: Any, limit: int = VALUE_LIMIT) -> str:
    """``repr(value)``, cut: a field, a header, an address."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + CUT


def escaped(text: Any, limit: int = TEXT_LIMIT) -> str:
    """``text`` on one line, its unprintable characters escaped as ``repr()``
    escapes them (no quotes added), cut: for a message built elsewhere."""
    text = str(text)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit] + CUT
