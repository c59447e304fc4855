"""Values from outside, as they are written in log lines (events/logsafe.py)."""

from __future__ import annotations

import pytest

from django_ses_query.logsafe import VALUE_LIMIT, escaped, shown

#: Everything str.splitlines() splits on.
LINE_BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("separator", LINE_BREAKS)
def test_no_line_break_survives(separator):
    value = f"id{separator}CRITICAL forged"
    assert len(value.splitlines()) == 2
    assert len(shown(value).splitlines()) == 1
    assert len(escaped(f"refused {value}").splitlines()) == 1


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f", "\x9b", "\u202e", "\u200b"])
def test_control_and_format_characters_are_escaped(character):
    assert character not in shown("a" + character)
    assert character not in escaped("a" + character)


def test_values_are_quoted_and_cut():
    assert shown("abc") == "'abc'"
    assert shown(None) == "None"
    long = shown("x" * 10_000)
    assert len(long) < VALUE_LIMIT + 20 and long.endswith("[cut]")
    assert len(escaped("y" * 10_000)) < 1100


def test_printable_text_is_left_alone():
    assert escaped("TopicArn 'arn:aws:sns:eu-west-1:1:t' é is refused") == (
        "TopicArn 'arn:aws:sns:eu-west-1:1:t' é is refused"
    )
