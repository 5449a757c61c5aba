"""The member-count chart in Chromium, under the site's Content-Security-Policy and without JavaScript.

The chart is inline SVG coloured by style.css alone (no style attribute anywhere, which visit()
checks), one dot per snapshot held, the line broken where a day was not taken, and its numbers in a
table that opens without a script. The chart's picture is kept as test-artifacts/web/trend.png
(docs/screenshots/trend.png is a copy of it).
"""

from __future__ import annotations

from typing import Any, Final

from playwright.async_api import Browser, Page

from tests.web.fill_history import HELD, TREND_ALLIANCE, TREND_CORPORATION
from tests.web.test_markup_pages import ARTIFACTS, visit

ACCENT: Final = "rgb(11, 92, 173)"  # style.css's --accent
_CHART = """() => {
    const svg = document.querySelector("svg.trend-chart");
    const look = (e) => ({fill: getComputedStyle(e).fill, stroke: getComputedStyle(e).stroke});
    return {charts: document.querySelectorAll("svg").length, width: svg.getBoundingClientRect().width,
            height: svg.getBoundingClientRect().height, label: svg.getAttribute("aria-label"),
            dots: [...svg.querySelectorAll("circle")].map((c) => c.querySelector("title").textContent),
            lines: [...svg.querySelectorAll("polyline")]
                .map((p) => p.getAttribute("points").split(" ").length),
            dot: look(svg.querySelector("circle")), line: look(svg.querySelector("polyline")),
            caption: document.querySelector("figure.trend figcaption").textContent};
}"""


async def test_an_alliance_page_draws_its_members_by_day_without_inventing_a_day(site: str,
                                                                                 page: Page) -> None:
    await visit(page, f"{site}/alliances/{TREND_ALLIANCE}", "alliance-trend")
    chart: dict[str, Any] = await page.evaluate(_CHART)
    assert chart["charts"] == 1 and chart["width"] > 400 and chart["height"] > 100
    assert chart["label"] == "Members of Goonswarm Federation by day, the last 90 days"
    assert len(chart["dots"]) == len(HELD) and chart["dots"][-1].endswith(": 16,800 members")
    assert chart["lines"] == [38, 20], "the line breaks at the three days never taken"
    assert chart["dot"]["fill"] == ACCENT and chart["line"] == {"fill": "none", "stroke": ACCENT}
    assert "16800 pilots in 4 corporations; over 7 days +280, over 30 days +550" in chart["caption"]
    await page.locator("figure.trend").screenshot(path=str(ARTIFACTS / "trend.png"))


async def test_the_numbers_open_as_a_table_without_javascript(site: str, browser: Browser) -> None:
    context = await browser.new_context(java_script_enabled=False, viewport={"width": 1000, "height": 900})
    try:
        page = await context.new_page()
        await visit(page, f"{site}/corporations/{TREND_CORPORATION}?days=30", "corporation-trend")
        assert await page.is_visible("svg.trend-chart")
        table = page.locator("details.trend-table table")
        assert not await table.is_visible()
        await page.click("details.trend-table summary")
        assert await table.is_visible()
        rows = await table.locator("tbody tr").all_inner_texts()
        assert len(rows) == len([d for d in HELD if d < 30]) == 27
        # Newest first: today's 5,000 + 2,400 - 600. 15 days ago (6,825) its week reaches back into
        # the gap; 45 days ago was 5,000 + 600 + 75.
        assert rows[0].split("\t")[1:] == ["6800", "+280", "+550"]
        assert rows[15].split("\t")[2:] == ["-", "+1150"]
    finally:
        await context.close()


async def test_a_page_without_snapshots_says_when_they_come(site: str, page: Page) -> None:
    await visit(page, f"{site}/corporations/98000002", "corporation-no-trend")
    assert await page.locator("svg").count() == 0
    assert "the scheduler takes one at 00:00 UTC" in (await page.text_content("main") or "")
