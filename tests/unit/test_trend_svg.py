"""The member-count chart as a pure function: axes, gaps, odd series, and nothing but its own markup."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from killreport.web.trend_svg import HEIGHT, WIDTH, chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"
DAY1 = dt.date(2026, 11, 1)


def rows(counts: dict[int, int]) -> list[dict[str, object]]:
    """Trend rows for day offsets → member counts, oldest first."""
    return [{"day": DAY1 + dt.timedelta(days=d), "member_count": c} for d, c in sorted(counts.items())]


def parsed(counts: dict[int, int], label: str = "Members") -> ET.Element:
    """The chart of `counts` as parsed XML."""
    return ET.fromstring(str(chart(rows(counts), label)))


def test_a_missing_day_breaks_the_line_and_every_held_day_is_a_dot() -> None:
    svg = parsed({0: 10, 1: 12, 2: 11, 5: 20, 6: 21, 9: 5})
    lines = [p.get("points", "").split() for p in svg.iter(f"{SVG}polyline")]
    assert [len(points) for points in lines] == [3, 2], "days 0-2 and 5-6 joined; 9 alone"
    dots = [c.findtext(f"{SVG}title") for c in svg.iter(f"{SVG}circle")]
    assert dots == ["2026-11-01: 10 members", "2026-11-02: 12 members", "2026-11-03: 11 members",
                    "2026-11-06: 20 members", "2026-11-07: 21 members", "2026-11-10: 5 members"]
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert labels[-2:] == ["2026-11-01", "2026-11-10"] and labels[:-2] == ["5", "10", "15", "20", "25"]


def test_nothing_carries_a_style_and_the_label_is_escaped() -> None:
    text = str(chart(rows({0: 1, 1: 2}), 'Members of <script>alert(1)</script> "&"'))
    assert "style" not in text and "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &#34;&amp;&#34;" in text
    assert {e.get("class") for e in parsed({0: 1, 1: 2}).iter() if e.get("class")} == {
        "trend-chart", "trend-grid", "trend-label", "trend-line", "trend-dot"}


@pytest.mark.parametrize("counts", [{0: 0}, {0: 7}, {0: 3, 1: 3, 2: 3}, {0: 0, 1: 0}, {4: 10**12, 5: 1}])
def test_one_day_a_flat_line_zero_and_huge_counts_stay_inside_the_picture(counts: dict[int, int]) -> None:
    for circle in parsed(counts).iter(f"{SVG}circle"):
        assert 0 <= float(circle.get("cx", "-1")) <= WIDTH and 0 <= float(circle.get("cy", "-1")) <= HEIGHT


def test_a_chart_of_no_day_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        chart([], "Members")


@given(st.integers(0, 10**9), st.integers(0, 10**9))
def test_ticks_are_round_evenly_spaced_and_cover_the_counts(a: int, b: int) -> None:
    low, high = min(a, b), max(a, b)
    ticks = nice_ticks(low, high)
    steps = {later - earlier for earlier, later in itertools.pairwise(ticks)}
    assert len(ticks) >= 2 and len(steps) == 1 and ticks[0] <= low and ticks[-1] >= high
    assert ticks[0] >= 0 and len(ticks) <= 11
    assert re.fullmatch(r"[125]0*", str(steps.pop()))
