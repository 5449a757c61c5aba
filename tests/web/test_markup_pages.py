"""EVE markup in Chromium, under the site's own Content-Security-Policy: what a reader sees.

Screenshots of each page go to test-artifacts/web/ (ignored by git) for a look after the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from playwright.async_api import Browser, Page

from killreport.web.markup import EXTERNAL_REL
from tests.web.fill import LONG_CORPORATION, MARKED_CHARACTER, MARKED_CORPORATION, WRAPPED_CORPORATION

ARTIFACTS: Final = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
# What a description box shows: its elements (tag, text, href, rel, color, font size in px) and text.
_DESCRIPTION = """(selector) => {
    const box = document.querySelector(selector);
    const shown = (e) => ({tag: e.localName, text: e.textContent, href: e.getAttribute("href"),
                           rel: e.getAttribute("rel"), color: getComputedStyle(e).color,
                           size: parseFloat(getComputedStyle(e).fontSize)});
    return {elements: [...box.querySelectorAll("*")].map(shown), text: box.textContent,
            color: getComputedStyle(box).color, size: parseFloat(getComputedStyle(box).fontSize),
            bidi: getComputedStyle(box).unicodeBidi, scrolls: box.scrollHeight > box.clientHeight};
}"""
# Signs that something the player wrote ran or became markup of its own.
_INJECTED = """() => ({
    pwned: typeof window.__pwned,
    handlers: [...document.querySelectorAll("*")].flatMap((e) => [...e.attributes]
        .filter((a) => a.name.startsWith("on") || a.name === "style")
        .map((a) => `${e.localName} ${a.name}="${a.value}"`)),
    scripts: document.scripts.length,
    hrefs: [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href")),
    wide: document.documentElement.scrollWidth > window.innerWidth,
})"""


async def visit(page: Page, url: str, shot: str) -> dict[str, Any]:
    """Load `url`, keep a screenshot as `shot`.png, and report what the player's text did to the page."""
    response = await page.goto(url)
    assert response is not None and response.status == 200, url
    injected: dict[str, Any] = await page.evaluate(_INJECTED)
    # After the inspection: Playwright's screenshot leaves an empty style attribute on the input.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    assert injected["pwned"] == "undefined", url
    assert injected["handlers"] == [] and injected["scripts"] == 0, url
    assert not any(h.lower().startswith("javascript") for h in injected["hrefs"]), url
    assert not injected["wide"], "nothing the player wrote widens the page"
    return injected


def by_text(elements: list[dict[str, Any]], tag: str) -> dict[str, dict[str, Any]]:
    """The elements of one tag, by their text."""
    return {e["text"]: e for e in elements if e["tag"] == tag}


async def test_a_description_shows_formatting_colours_sizes_and_links_as_the_game_does(
        site: str, page: Page) -> None:
    await visit(page, f"{site}/characters/{MARKED_CHARACTER}", "character-markup")
    box = await page.evaluate(_DESCRIPTION, ".text")
    elements, text = box["elements"], box["text"]
    assert {"bold", "unclosed misnested"} <= by_text(elements, "b").keys()
    assert {"italic", "misnested", " tail"} <= by_text(elements, "i").keys()
    assert "under" in by_text(elements, "u")
    links = by_text(elements, "a")
    assert {t: (e["href"], e["rel"]) for t, e in links.items()} == {
        "The Mittani": ("/characters/90000001", None), "Goonswarm": ("/alliances/99000001", None),
        "GoonWaffe": ("/corporations/98000001", None),
        "recruiting": ("https://example.com/recruit?a=1&b=2", EXTERNAL_REL)}
    spans = by_text(elements, "span")
    assert spans["Big red"]["color"] == "rgb(255, 0, 0)" and spans["Big red"]["size"] > 1.5 * box["size"]
    assert spans["green"]["color"] == "rgb(0, 255, 0)"
    assert "css" not in spans and box["color"] == "rgba(255, 255, 255, 0.75)"  # EVE's default text
    for shown in ("Rifter", "js link", "js url", "<b>not bold</b>", "<script>window.__pwned=9</script>",
                  '<img src=x onerror="window.__pwned=10">', '<div onclick="window.__pwned=11">div</div>',
                  "\u202eright to left\u202c localized", "open to the end"):
        assert shown in text, shown
    for hidden in ("<b>bold", "<font", "<color", "<url", "showinfo", "<br>", "<loc>", "</i>", "<u>"):
        assert hidden not in text, hidden
    assert box["bidi"] == "isolate", "a right-to-left override stays inside the box"
    after = await page.evaluate("getComputedStyle(document.querySelector('h2')).textDecorationLine")
    assert after == "none", "the unclosed <u> ends with the description"
    await page.get_by_role("link", name="The Mittani").click()
    await page.wait_for_url("**/characters/90000001")
    assert await page.text_content("h1") == "The Mittani"


async def test_a_title_is_rendered_inline_without_breaks_or_colours(site: str, page: Page) -> None:
    await visit(page, f"{site}/characters/{MARKED_CHARACTER}", "character-title")
    title = await page.evaluate(_DESCRIPTION, "dl.facts dt:nth-of-type(3) + dd")
    assert [(e["tag"], e["text"]) for e in title["elements"]] == [
        ("bdi", "Director of Pain <script>window.__pwned=12</script>"), ("b", "Director")]
    corporation = await visit(page, f"{site}/corporations/{MARKED_CORPORATION}", "corporation-markup")
    assert f"/characters/{MARKED_CHARACTER}" in corporation["hrefs"]
    row = await page.evaluate(_DESCRIPTION, "table.list tbody tr td:nth-child(2)")
    assert ("b", "Director") in [(e["tag"], e["text"]) for e in row["elements"]]


async def test_a_python_wrapped_description_reads_as_text(site: str, page: Page) -> None:
    await visit(page, f"{site}/corporations/{WRAPPED_CORPORATION}", "corporation-wrapped")
    box = await page.evaluate(_DESCRIPTION, ".text")
    assert box["text"] == "Привет друзья"
    assert by_text(box["elements"], "b").keys() == {"друзья"}


async def test_a_long_description_scrolls_in_its_box(site: str, page: Page) -> None:
    await visit(page, f"{site}/corporations/{LONG_CORPORATION}", "corporation-long")
    box = await page.evaluate(_DESCRIPTION, ".text")
    assert box["scrolls"] and len(box["text"]) > 4000
    assert await page.is_visible("footer")


async def test_changed_descriptions_and_titles_render_in_changes(site: str, page: Page) -> None:
    await visit(page, f"{site}/corporations/{MARKED_CORPORATION}", "corporation-changes")
    cells = await page.evaluate(_DESCRIPTION, "table.changes tbody")
    shown = [(e["tag"], e["text"], e["href"]) for e in cells["elements"] if e["tag"] in ("a", "b", "i")]
    assert shown == [("i", "We were", None), ("a", "elsewhere", "/corporations/98000001"),
                     ("b", "now here", None)]
    await visit(page, f"{site}/characters/{MARKED_CHARACTER}", "character-changes")
    title = await page.evaluate(_DESCRIPTION, "table.changes tbody")
    assert ("u", "Recruit") in [(e["tag"], e["text"]) for e in title["elements"]]
    assert "Recruit x" in title["text"] and "<u>" not in title["text"]


async def test_escaping_alone_keeps_these_pages_inert(site: str, browser: Browser) -> None:
    context = await browser.new_context(bypass_csp=True)  # no policy to fall back on
    try:
        page = await context.new_page()
        for path in (f"/characters/{MARKED_CHARACTER}", f"/corporations/{MARKED_CORPORATION}",
                     f"/corporations/{WRAPPED_CORPORATION}", f"/corporations/{LONG_CORPORATION}"):
            injected = await visit(page, site + path, "no-csp" + path.replace("/", "-"))
            assert injected["hrefs"], path  # visit() found no script, handler or javascript: link
    finally:
        await context.close()
