"""Nothing leaves the machine: with WEB_IMAGES off no page loads anything from elsewhere, and with it
on, entity pages point at CCP's image server, which the browser here never reaches (requests to it
are answered locally, anything else outside is refused)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator
from typing import Final
from urllib.parse import urlsplit

import aiohttp
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, Route

from killreport.web import build_app
from killreport.web.security import CONTENT_SECURITY_POLICY, IMAGE_SERVER
from tests.cluster import cli, env_for, web_process
from tests.web.browser import served
from tests.web.conftest import CLOSED_PORT_AMQP, UNSCHEDULED, Filled, link_to
from tests.web.fill import MARKED_ALLIANCE, MARKED_CHARACTER, MARKED_CORPORATION
from tests.web.fill_kills import HOSTILE_KILL

ENTITY_PAGES: Final = (f"/alliances/{MARKED_ALLIANCE}", f"/corporations/{MARKED_CORPORATION}",
                       f"/characters/{MARKED_CHARACTER}")
IMAGES: Final = (f"{IMAGE_SERVER}/alliances/{MARKED_ALLIANCE}/logo?size=128",
                 f"{IMAGE_SERVER}/corporations/{MARKED_CORPORATION}/logo?size=128",
                 f"{IMAGE_SERVER}/characters/{MARKED_CHARACTER}/portrait?size=128")
_IMG_SOURCES = "[...document.images].map((i) => [i.getAttribute('src'), i.complete && i.naturalWidth])"


def one_pixel_png() -> bytes:
    """A 1x1 PNG: what the image server's stand-in answers."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


def origin(url: str) -> str:
    """scheme://host:port of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Fence:
    """Routes every request of a browser context: the site's pass, the image server's get a local
    PNG, everything else is refused. Each list says what was asked for."""

    def __init__(self, site: str) -> None:
        self.site = site
        self.seen: list[str] = []
        self.images: list[str] = []
        self.refused: list[str] = []

    async def route(self, route: Route) -> None:
        """Pass, answer locally or refuse one request."""
        url = route.request.url
        self.seen.append(url)
        if origin(url) == self.site:
            await route.continue_()
        elif origin(url) == IMAGE_SERVER:
            self.images.append(url)
            await route.fulfill(status=200, content_type="image/png", body=one_pixel_png())
        else:
            self.refused.append(url)
            await route.abort()


@pytest_asyncio.fixture(loop_scope="session")
async def fenced(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A browser context for one test."""
    context = await browser.new_context()
    yield context
    await context.close()


async def visit(page: Page, url: str) -> list[list[object]]:
    """Load `url` (status 200 or 404) and give its images' src and loaded width."""
    response = await page.goto(url)
    assert response is not None and response.status in (200, 404), url
    sources: list[list[object]] = await page.evaluate(_IMG_SOURCES)
    return sources


async def test_with_images_off_every_request_of_every_page_goes_to_the_site(
        site: str, fenced: BrowserContext) -> None:
    fence = Fence(site)
    await fenced.route("**/*", fence.route)
    page = await fenced.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    async with page.expect_request(f"{site}/api/status"):  # the status page's first poll
        await visit(page, site + "/")
    for path in (*ENTITY_PAGES, "/search?q=markup", "/search?q=%3Cimg", "/search", "/alliances/1",
                 "/corporations/98100003", "/characters/90100004", f"/killmails/{HOSTILE_KILL}",
                 "/characters/90000002/losses", "/killmails/1"):
        assert await visit(page, site + path) == [], path
    assert f"{site}/static/style.css" in requested and fence.refused == [] and fence.images == []
    assert {origin(url) for url in requested} == {site} == {origin(url) for url in fence.seen}


async def test_with_images_on_entity_pages_show_portraits_and_logos_from_ccp(
        filled: Filled, declared_vhost: str, fenced: BrowserContext) -> None:
    link = link_to(declared_vhost)
    async with served(build_app(filled.store, link, UNSCHEDULED, images=True)) as site:
        fence = Fence(site)
        await fenced.route("**/*", fence.route)
        page = await fenced.new_page()
        for path, image in zip(ENTITY_PAGES, IMAGES, strict=True):
            assert await visit(page, site + path) == [[image, 1]], path  # shown: the CSP lets it in
        response = await page.goto(site + "/search?q=markup")
        assert response is not None and await page.evaluate(_IMG_SOURCES) == []
        policy = response.headers["content-security-policy"]
    await link.close()
    assert f"img-src 'self' {IMAGE_SERVER};" in policy
    assert sorted(fence.images) == sorted(IMAGES) and fence.refused == []


async def test_the_command_reads_web_images(filled: Filled) -> None:
    for setting, shown in (("false", False), ("true", True)):
        env = env_for(filled.url, CLOSED_PORT_AMQP, "http://127.0.0.1:1", WEB_TOKEN="", WEB_IMAGES=setting)
        async with web_process(env) as base, aiohttp.ClientSession() as session, \
                session.get(f"{base}characters/{MARKED_CHARACTER}") as resp:
            body = await resp.text()
            policy = resp.headers["Content-Security-Policy"]
        assert (IMAGES[2] in body) is shown and (IMAGE_SERVER in policy) is shown, setting
        assert shown or policy == CONTENT_SECURITY_POLICY


async def test_the_command_refuses_a_web_images_that_is_not_true_or_false() -> None:
    env = env_for("postgresql://root@127.0.0.1:1/killreport", CLOSED_PORT_AMQP, "http://127.0.0.1:1",
                  WEB_TOKEN="", WEB_IMAGES="maybe")
    done = await cli(env, "web", "--port", "0", timeout_s=60)
    assert done.code == 1 and done.out == "" and done.err.count("\n") == 1, done.err
    assert "invalid setting WEB_IMAGES" in done.err and "maybe" not in done.err
