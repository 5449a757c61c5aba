"""The site in a real browser: hostile strings stay text, search leads to members, the API is JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Final
from urllib.parse import urlsplit

import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Dialog

from killreport.web.markup import render
from tests.web.conftest import Filled

# Every element the templates and the markup renderer write; anything else in a page was injected.
TEMPLATE_TAGS: Final = frozenset({
    "header", "a", "form", "input", "button", "main", "h1", "h2", "span", "bdi", "p", "strong", "dl", "dt",
    "dd", "div", "table", "thead", "tbody", "tr", "th", "td", "footer", "q", "b", "i", "u", "br"})
_INSPECT = """() => ({
    pwned: typeof window.__pwned,
    tags: [...new Set([...document.body.querySelectorAll("*")].map((e) => e.localName))],
    hrefs: [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href")),
    scripts: document.scripts.length,
    text: document.documentElement.textContent,
})"""


def newlines(text: str) -> str:
    """Text as an HTML parser hands it to the DOM: CR LF and lone CR become LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        """Keep the text."""
        self.parts.append(data)


def visible(source: str, inline: bool) -> str:
    """The text the renderer means a reader to see of `source` (what the DOM's textContent holds)."""
    parser = _Text()
    parser.feed(render(source, inline=inline))
    parser.close()
    return newlines("".join(parser.parts))


@pytest_asyncio.fixture(loop_scope="session")
async def no_csp(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A context that ignores the Content-Security-Policy: escaping alone must keep scripts out."""
    context = await browser.new_context(bypass_csp=True)
    yield context
    await context.close()


async def test_every_hostile_string_is_shown_as_text_and_nothing_runs(
        filled: Filled, site: str, no_csp: BrowserContext) -> None:
    page = await no_csp.new_page()
    dialogs: list[str] = []

    async def dismiss(dialog: Dialog) -> None:
        """Note the dialog and close it (an open one would block the page)."""
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    for path, texts in filled.hostile.shown_on.items():
        response = await page.goto(site + path)
        assert response is not None and response.status == 200, path
        seen = await page.evaluate(_INSPECT)
        assert seen["pwned"] == "undefined", path
        assert set(seen["tags"]) <= TEMPLATE_TAGS, (path, set(seen["tags"]) - TEMPLATE_TAGS)
        assert seen["scripts"] == 0, path
        assert all(h.startswith("/") or urlsplit(h).scheme in ("http", "https") for h in seen["hrefs"]), path
        for text in texts:
            assert newlines(text) in seen["text"], (path, text[:80])
        for source, inline in filled.hostile.described_on.get(path, []):
            assert visible(source, inline) in seen["text"], (path, source[:80])
    search = await page.goto(site + "/search?q=" + "%3Cscript%3E")
    assert search is not None and search.status == 200
    assert (await page.evaluate(_INSPECT))["pwned"] == "undefined"
    assert dialogs == []


async def test_the_policy_stops_a_script_that_got_into_the_page(site: str, browser: Browser) -> None:
    page = await browser.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    await page.goto(site + "/alliances/99000001")
    await page.evaluate("""() => { const s = document.createElement("script");
                                   s.textContent = "window.__inline = 1"; document.body.append(s); }""")
    assert await page.evaluate("typeof window.__inline") == "undefined"
    assert blocked, "the browser reports the blocked inline script"
    await page.close()


async def test_search_by_ticker_finds_the_alliance_and_leads_to_its_members(site: str,
                                                                          browser: Browser) -> None:
    page = await browser.new_page()
    await page.goto(site + "/")
    await page.fill("input[name=q]", "condi")
    await page.press("input[name=q]", "Enter")
    await page.wait_for_url("**/search?q=condi")
    first = page.locator("main table tbody tr").first
    assert await first.locator("td").nth(1).text_content() == "CONDI"
    await first.locator("a").click()
    await page.wait_for_url("**/alliances/99000001")
    assert await page.text_content("h1") == "Goonswarm Federation [CONDI]"
    await page.get_by_role("link", name="KarmaFleet").click()
    await page.wait_for_url("**/corporations/98000002")
    assert await page.text_content("h1") == "KarmaFleet [KFLT]"
    await page.close()


async def test_an_api_page_is_valid_json(site: str, browser: Browser) -> None:
    page = await browser.new_page()
    response = await page.goto(site + "/api/alliances/99000001/corporations?per_page=2")
    assert response is not None and response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    body = json.loads(await response.text())
    assert [c["id"] for c in body["items"]] == [98000001, 98000002]
    assert body["next"] == "/api/alliances/99000001/corporations?per_page=2&page=2"
    await page.close()
