"""A member-count chart drawn on the server as inline SVG: readable without JavaScript, nothing loaded.

The page's Content-Security-Policy allows styles from style.css only, so nothing here carries a
style attribute: every element has a class (`trend-*`) that style.css colours. What the chart
writes is numbers and ISO dates the code made, escaped all the same.

A day without a snapshot is a gap: the line stops at the last day before it and starts again at
the next, and each day held is a dot with its numbers as a tooltip (`<title>`), so nothing drawn
stands for a day that was not taken.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

from killreport.store.lookup import Row

WIDTH: Final = 720
HEIGHT: Final = 240
# Room for the axes' labels: left, right, top, bottom.
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 12, 28
_TICKS: Final = 4


@dataclass(frozen=True, slots=True)
class _Frame:
    """Where days and counts land in the picture."""

    first: dt.date
    span_days: int
    low: int
    high: int

    def x(self, day: dt.date) -> float:
        """The horizontal position of a day."""
        width = WIDTH - _LEFT - _RIGHT
        return _LEFT + width * ((day - self.first).days / self.span_days if self.span_days else 0.5)

    def y(self, count: int) -> float:
        """The vertical position of a member count."""
        height = HEIGHT - _TOP - _BOTTOM
        return _TOP + height * (1 - (count - self.low) / (self.high - self.low))


def nice_ticks(low: int, high: int, count: int = _TICKS) -> list[int]:
    """Round counts from at most `low` to at least `high`, about `count` steps of 1, 2 or 5 times a
    power of ten."""
    if high <= low:  # one value: a band around it, never below zero members
        low, high = max(low - 1, 0), high + 1
    rough = (high - low) / count
    power = 10 ** math.floor(math.log10(rough)) if rough >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    start = math.floor(low / step) * step
    stop = math.ceil(high / step) * step
    return list(range(start, stop + 1, step))


def _runs(rows: Sequence[Row]) -> list[list[Row]]:
    """The rows in runs of consecutive days (a missing day ends a run)."""
    runs: list[list[Row]] = []
    for row in rows:
        if runs and row["day"] - runs[-1][-1]["day"] == dt.timedelta(days=1):
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs


def _axes(frame: _Frame, ticks: list[int]) -> list[str]:
    parts = []
    for tick in ticks:
        y = frame.y(tick)
        parts.append(f'<line class="trend-grid" x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" '
                     f'y2="{y:.1f}"/>')
        parts.append(f'<text class="trend-label" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{tick:,}</text>")
    last = frame.first + dt.timedelta(days=frame.span_days)
    for day, anchor in ((frame.first, "start"), (last, "end")):
        parts.append(f'<text class="trend-label" x="{frame.x(day):.1f}" y="{HEIGHT - 8}" '
                     f'text-anchor="{anchor}">{escape(day.isoformat())}</text>')
    return parts


def _series(frame: _Frame, rows: Sequence[Row]) -> list[str]:
    parts = []
    for run in _runs(rows):
        if len(run) > 1:
            points = " ".join(f"{frame.x(r['day']):.1f},{frame.y(r['member_count']):.1f}" for r in run)
            parts.append(f'<polyline class="trend-line" points="{points}"/>')
        for r in run:
            tip = escape(f"{r['day'].isoformat()}: {r['member_count']:,} members")
            parts.append(f'<circle class="trend-dot" cx="{frame.x(r["day"]):.1f}" '
                         f'cy="{frame.y(r["member_count"]):.1f}" r="3"><title>{tip}</title></circle>')
    return parts


def chart(rows: Sequence[Row], label: str) -> Markup:
    """The member counts of `rows` (trend rows, oldest first, at least one) as an SVG element."""
    if not rows:
        raise ValueError("a chart needs at least one day")
    counts = [int(r["member_count"]) for r in rows]
    ticks = nice_ticks(min(counts), max(counts))
    frame = _Frame(rows[0]["day"], (rows[-1]["day"] - rows[0]["day"]).days, ticks[0], ticks[-1])
    body = "".join([*_axes(frame, ticks), *_series(frame, rows)])
    return Markup(  # noqa: S704 - numbers and dates written here, the label escaped
        f'<svg class="trend-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{body}</svg>")
