"""Screenshots of the status page mid-sync and of an alliance page, with the tests' Chromium.

    .venv/bin/python -m tests.web.screenshots [--out docs/screenshots] [--alliances 40]

Makes its own database and vhost (dropped afterwards), runs the simulator and two workers, starts
`sync-all`, shoots the status page while the sync runs, waits for it to finish, then shoots the
page of the alliance with the most members. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Browser, ViewportSize
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from killreport.config import sqlalchemy_url
from killreport.sim.testing import running_sim
from killreport.store import migrate
from killreport.store import tables as t
from killreport.web import build_app
from tests import services
from tests.cluster import cli, env_for, workers
from tests.stores import as_store
from tests.web.browser import chromium, served
from tests.web.conftest import CLUSTER_RETRY_DELAYS_S, UNSCHEDULED, link_to

VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


async def status_of(base: str) -> dict[str, Any]:
    """The site's /api/status."""
    async with aiohttp.ClientSession() as session, session.get(base + "/api/status") as resp:
        return dict(await resp.json())


async def until(base: str, done: Callable[[dict[str, Any]], bool], timeout_s: float = 300) -> None:
    """Poll /api/status every half second until `done(status)`; TimeoutError after `timeout_s`."""
    for _ in range(int(timeout_s * 2)):
        if done(await status_of(base)):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"the sync did not get there within {timeout_s} s")


async def biggest_alliance(engine: AsyncEngine) -> int:
    """The alliance with the most member corporations."""
    ac = t.alliance_corporations.c
    query = select(ac.alliance_id).group_by(ac.alliance_id).order_by(func.count().desc(), ac.alliance_id)
    async with engine.connect() as conn:
        return int((await conn.execute(query.limit(1))).scalar_one())


async def shoot(browser: Browser, url: str, path: Path, *, full_page: bool = False) -> None:
    """One screenshot of a page once its script has polled at least once."""
    page = await browser.new_page(viewport=VIEWPORT)
    await page.goto(url)
    await asyncio.sleep(2.5)
    await page.screenshot(path=str(path), full_page=full_page)
    await page.close()
    print(f"wrote {path}")


async def run(out: Path, alliances: int, db_url: str, vhost_url: str) -> None:
    """Sync a small universe while shooting the status page, then an alliance page."""
    await asyncio.to_thread(migrate.upgrade, db_url)
    engine = create_async_engine(sqlalchemy_url(db_url))
    link = link_to(vhost_url, CLUSTER_RETRY_DELAYS_S)
    async with running_sim(alliances=alliances, latency_ms=100, jitter_ms=100) as sim, \
            served(build_app(as_store(engine), link, UNSCHEDULED)) as base, chromium() as browser:
        env = env_for(db_url, vhost_url, sim.base_url, WORKER_CONCURRENCY="8")
        async with workers(env, 2):
            assert (await cli(env, "sync-all")).code == 0
            await until(base, lambda s: s["stored"]["corporations"] >= 40)
            await shoot(browser, base + "/", out / "status.png", full_page=True)
            await until(base, lambda s: not s["pending"])
        await shoot(browser, f"{base}/alliances/{await biggest_alliance(engine)}", out / "alliance.png")
    await link.close()
    await engine.dispose()


def main() -> None:
    """Parse the arguments, make the database and vhost, shoot, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--alliances", type=int, default=40)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    name = services.unique_name("kr_shots")
    db_url = asyncio.run(services.create_database(name))
    vhost_url = services.create_vhost(name)
    try:
        asyncio.run(run(args.out, args.alliances, db_url, vhost_url))
    finally:
        services.delete_vhost(name)
        asyncio.run(services.drop_database(name))


if __name__ == "__main__":
    main()
