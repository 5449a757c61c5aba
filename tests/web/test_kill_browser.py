"""The kill pages in Chromium under the site's Content-Security-Policy: what a reader sees and follows.

zkb's labels may hold anything: they show as the text they are, nothing they hold runs or styles the
page, the attacker of the final blow stands out, and "older" links walk an entity's losses to the end.
"""

from __future__ import annotations

from typing import Any, Final

from playwright.async_api import Page

from tests.web.fill_kills import HOSTILE_KILL, HOSTILE_LABELS, VILE_RAT_LOSSES
from tests.web.test_markup_pages import visit

_KILL: Final = """() => ({
    labels: [...document.querySelectorAll(".labels .label")].map((e) => e.textContent),
    finals: [...document.querySelectorAll("table.attackers tbody tr")].map((tr) => ({
        marked: tr.classList.contains("final"), text: tr.lastElementChild.textContent,
        background: getComputedStyle(tr.firstElementChild).backgroundColor})),
})"""
_LISTED: Final = """() => [...document.querySelectorAll("table.kills tbody tr td:first-child a")]
    .map((a) => Number(a.textContent))"""


async def test_a_kills_labels_are_text_and_its_final_blow_stands_out(site: str, page: Page) -> None:
    await visit(page, f"{site}/killmails/{HOSTILE_KILL}", "kill")
    shown: dict[str, Any] = await page.evaluate(_KILL)
    assert shown["labels"] == list(HOSTILE_LABELS)
    marked = [row for row in shown["finals"] if row["marked"]]
    assert len(marked) == 1 and marked[0]["text"] == "final blow"
    others = {row["background"] for row in shown["finals"] if not row["marked"]}
    assert marked[0]["background"] not in others, "the final blow's row has its own background"


async def test_older_links_walk_an_entitys_losses_newest_first(site: str, page: Page) -> None:
    await visit(page, f"{site}/characters/90000002", "character-kills")
    seen: list[int] = []
    await page.get_by_role("link", name="older losses").click()
    while True:
        await page.wait_for_load_state()
        seen += await page.evaluate(_LISTED)
        more = page.get_by_role("link", name="older losses")
        if await more.count() == 0:
            break
        await more.click()
    assert seen == sorted(VILE_RAT_LOSSES, reverse=True)[20:]


async def test_the_front_page_links_recent_kills_to_their_pages(site: str, page: Page) -> None:
    await page.goto(f"{site}/")
    listed = await page.evaluate(_LISTED)
    assert listed[0] == max(VILE_RAT_LOSSES)
    await page.get_by_role("link", name=str(listed[0]), exact=True).click()
    await page.wait_for_url(f"**/killmails/{listed[0]}")
    assert await page.text_content("h1") == f"Kill {listed[0]}"
