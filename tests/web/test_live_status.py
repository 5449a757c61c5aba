"""The status page follows a sync as it runs: its numbers move without the page being reloaded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page
from sqlalchemy.ext.asyncio import create_async_engine

from killreport.config import sqlalchemy_url
from killreport.sim.testing import running_sim
from killreport.web import build_app
from tests import services
from tests.cluster import cli, env_for, workers
from tests.stores import as_store
from tests.web.browser import served
from tests.web.conftest import CLUSTER_RETRY_DELAYS_S, UNSCHEDULED, link_to

pytestmark = pytest.mark.timeout(180)
STORED = "tbody[data-rows=stored]"


@pytest_asyncio.fixture(loop_scope="session")
async def empty_db() -> AsyncIterator[str]:
    """A migrated database of its own: a sync is about to fill it."""
    name = services.unique_name("kr_web_live")
    url = await services.create_migrated_database(name)
    try:
        yield url
    finally:
        await services.drop_database(name)


async def moved(page: Page, selector: str, before: str, timeout_s: float = 30) -> str:
    """Wait until the element's text differs from `before`; return the new text."""
    await page.wait_for_function("([sel, old]) => document.querySelector(sel).textContent !== old",
                                 arg=[selector, before], timeout=timeout_s * 1000)
    return str(await page.text_content(selector))


async def test_the_status_page_numbers_move_while_a_sync_runs(
        browser: Browser, empty_db: str, fresh_rabbit_url: str) -> None:
    engine = create_async_engine(sqlalchemy_url(empty_db))
    link = link_to(fresh_rabbit_url, CLUSTER_RETRY_DELAYS_S)
    # Slow answers and few jobs at a time: the sync lasts long enough for several polls.
    async with running_sim(alliances=8, latency_ms=150, jitter_ms=50) as sim, \
            served(build_app(as_store(engine), link, UNSCHEDULED)) as base:
        env = env_for(empty_db, fresh_rabbit_url, sim.base_url, WORKER_CONCURRENCY="4")
        page = await browser.new_page()
        await page.goto(base + "/")
        await page.evaluate("window.__samePage = true")
        stored = str(await page.text_content(STORED))
        async with workers(env, 1):
            done = await cli(env, "sync-all")
            assert done.code == 0, done.err
            first = await moved(page, STORED, stored)
            second = await moved(page, STORED, first)
            rate = await page.text_content("#rate-now")
        assert await page.evaluate("window.__samePage") is True, "updated in place, not reloaded"
        assert "corporations" in second and rate not in ("0", "0.0", "-")
        assert await page.text_content("#live") == "live: updated every 2 s"
        assert await page.text_content("[data-k='broker.state']") == "connected"
        await page.close()
    await link.close()
    await engine.dispose()
