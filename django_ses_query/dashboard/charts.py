"""Server-rendered SVG charts: no JavaScript, no chart library to ship.

Pure functions from counts to markup. Every text is escaped; colours come
from CSS classes (``static/django_ses_query/dashboard.css``), so the charts
follow the admin's light and dark themes.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# The drawing area, in SVG user units (the SVG scales to its box).
WIDTH = 440
HEIGHT = 220
LEFT = 40  # room for the y labels
RIGHT = 8
TOP = 10
BOTTOM = 24  # room for the x labels


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    magnitude = 10 ** int(math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover (the loop always returns)


def ticks(top: int) -> list[int]:
    """Up to five evenly spaced whole ticks from 0 to ``top``."""
    for parts in (5, 4, 2, 1):
        if top % parts == 0:
            return [top * n // parts for n in range(parts + 1)]
    return [0, top]  # pragma: no cover


def stacked_bars(
    days: Sequence[datetime.date],
    series: Sequence[tuple[str, str]],
    counts: dict[tuple[datetime.date, str], int],
    *,
    title: str,
) -> SafeString:
    """One bar per day, stacked by series (``(key, label)`` pairs, bottom
    first). Each segment has a tooltip (``<title>``) "day label: count", and a
    CSS class ``sesq-series-<key>``."""
    totals = [sum(counts.get((day, key), 0) for key, _ in series) for day in days]
    top = nice_ceiling(max(totals, default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(days), 1)
    bar = max(slot * 0.7, 1)

    def y(value: float) -> float:
        return TOP + plot_height - value / top * plot_height

    parts = [
        f'<svg class="sesq-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in ticks(top):
        parts.append(
            f'<line class="sesq-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
            f'<text class="sesq-axis" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:,}</text>'
        )
    label_every = 1 if len(days) <= 16 else 2
    for index, (day, total) in enumerate(zip(days, totals)):
        x = LEFT + index * slot + (slot - bar) / 2
        base = 0
        for key, label in series:
            value = counts.get((day, key), 0)
            if not value:
                continue
            parts.append(
                f'<rect class="sesq-series-{escape(key)}" x="{x:.1f}" y="{y(base + value):.1f}" '
                f'width="{bar:.1f}" height="{y(base) - y(base + value):.1f}">'
                f"<title>{day.isoformat()} {escape(label)}: {value:,}</title></rect>"
            )
            base += value
        if (len(days) - 1 - index) % label_every == 0:
            parts.append(
                f'<text class="sesq-axis" x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{day.day}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text above is escaped)


def rate_gauge(
    percent: float | None, review: float, pause: float, marks: Sequence[tuple[float, str]] = ()
) -> SafeString:
    """A horizontal bar from 0 to 1.5 × the pause level, with the rate filled
    in and SES's review and pause levels marked below it; ``marks``
    (``(percent, label)``, e.g. a mailbox provider's lines) above it."""
    scale = pause * 1.5
    width, bar_height = 400, 16
    bar_top = 16 if marks else 4
    height = bar_top + 36

    def x(value: float) -> float:
        return min(value, scale) / scale * width

    level = "none" if percent is None else "pause" if percent >= pause else "review" if percent >= review else "ok"
    parts = [
        f'<svg class="sesq-gauge" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(percent_text(percent))}" xmlns="http://www.w3.org/2000/svg">',
        f'<rect class="sesq-gauge-track" x="0" y="{bar_top}" width="{width}" height="{bar_height}"/>',
        f'<rect class="sesq-gauge-review" x="{x(review):.1f}" y="{bar_top}" width="{x(pause) - x(review):.1f}" height="{bar_height}"/>',
        f'<rect class="sesq-gauge-pause" x="{x(pause):.1f}" y="{bar_top}" width="{width - x(pause):.1f}" height="{bar_height}"/>',
    ]
    if percent is not None:
        parts.append(
            f'<rect class="sesq-gauge-value sesq-level-{level}" x="0" y="{bar_top + 4}" '
            f'width="{max(x(percent), 2):.1f}" height="{bar_height - 8}"/>'
        )
    for value, label in marks:
        parts.append(
            f'<line class="sesq-gauge-mark sesq-gauge-provider" x1="{x(value):.1f}" x2="{x(value):.1f}" '
            f'y1="{bar_top - 4}" y2="{bar_top + bar_height}"/>'
            f'<text class="sesq-axis sesq-gauge-provider-label" x="{x(value):.1f}" y="{bar_top - 6}" '
            f'text-anchor="middle">{escape(label)} {escape(percent_text(value))}</text>'
        )
    for value, name in ((review, "review"), (pause, "pause")):
        parts.append(
            f'<line class="sesq-gauge-mark" x1="{x(value):.1f}" x2="{x(value):.1f}" y1="0" y2="{bar_top + bar_height + 4}"/>'
            f'<text class="sesq-axis" x="{x(value):.1f}" y="{height - 2}" text-anchor="middle">'
            f"{escape(percent_text(value))} {name}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text above is escaped)


def percent_text(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f} %" if value < 1 else f"{value:.1f} %"
