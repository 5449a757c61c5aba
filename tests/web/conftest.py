"""Fixtures of the web's tests: one filled database, one broker vhost and one browser per session.

The web only reads, so every test shares one database filled once through the store. Everything
async here runs on the session's event loop (one engine, one browser for all tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Page
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from killreport.config import sqlalchemy_url
from killreport.domain.budget_rules import WITHOUT_DOWNTIME
from killreport.queue.rabbit import RabbitBroker
from killreport.queue.topology import DEFAULT_RETRY_DELAYS_S
from killreport.store import migrate
from killreport.store.budget_view import BudgetView
from killreport.store.interface import Store
from killreport.web import BrokerLink, build_app
from tests import services
from tests.stores import as_store
from tests.web import fake_history, fill, fill_history, fill_kills
from tests.web.browser import chromium, served

HERE = Path(__file__).parent
CLOSED_PORT_AMQP = "amqp://guest:guest@127.0.0.1:1/"
# tests.cluster.env_for's RETRY_DELAYS_S: what the workers of end-to-end tests declare.
CLUSTER_RETRY_DELAYS_S = (1, 2, 3)
# The budget as the site shows it, by the rules of the tests' processes (ESI_DAILY_DOWNTIME=false,
# tests.cluster): no daily window, so a page read at 11:00 UTC shows no downtime nobody asked for.
UNSCHEDULED = BudgetView(WITHOUT_DOWNTIME)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every async test of this folder on the session's loop, where the shared fixtures live."""
    session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if HERE in Path(str(item.path)).parents and pytest_asyncio.is_async_test(item):
            item.add_marker(session_loop, append=False)


@dataclass
class Filled:
    """The shared database: its URL, an engine on it, where the hostile strings are shown, its kills."""

    url: str
    engine: AsyncEngine
    hostile: fill.Hostile
    kills: fill_kills.Kills

    @property
    def store(self) -> Store:
        """The Store on `engine`."""
        return as_store(self.engine)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def filled() -> AsyncIterator[Filled]:
    """A migrated database holding fill.scenario, fill.hostile, fill_kills.kills and
    fill_history.snapshots."""
    name = services.unique_name("kr_web")
    url = await services.create_database(name)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        engine = create_async_engine(sqlalchemy_url(url))
        async with engine.begin() as conn:
            await fill.scenario(conn)
            hostile = await fill.hostile(conn)
            await fill.markup(conn)
            kills = await fill_kills.kills(conn, hostile)
            await fill_history.snapshots(conn)
        yield Filled(url, engine, hostile, kills)
        await engine.dispose()
    finally:
        await services.drop_database(name)


@pytest.fixture(scope="session")
def declared_vhost(rabbit_url: str) -> str:
    """The session's vhost with killreport's queues declared."""

    async def declare() -> None:
        """Connect once, declaring every queue."""
        broker = await RabbitBroker.connect(rabbit_url)
        await broker.close()

    asyncio.run(declare())
    return rabbit_url


def link_to(url: str, retry_delays_s: Sequence[float] = DEFAULT_RETRY_DELAYS_S) -> BrokerLink:
    """A BrokerLink as `killreport web` makes one (the retry tiers name queues: say the workers')."""
    return BrokerLink(lambda: RabbitBroker.connect(url, retry_delays_s, declare=False, connect_attempts=1,
                                                   connect_timeout_s=3.0))


@pytest_asyncio.fixture(loop_scope="session")
async def client(filled: Filled, declared_vhost: str) -> AsyncIterator[TestClient[Any, Any]]:
    """A test client of the app over the shared database and a reachable broker."""
    link = link_to(declared_vhost)
    site = build_app(filled.store, link, UNSCHEDULED)
    async with TestClient(TestServer(site, host="127.0.0.1")) as test_client:
        yield test_client
    await link.close()


@pytest.fixture
def unreachable_link() -> Iterator[BrokerLink]:
    """A BrokerLink to a port nothing listens on."""
    yield link_to(CLOSED_PORT_AMQP)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One Chromium for every browser test of the session."""
    async with chromium() as launched:
        yield launched


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page in a fresh context with the CSP in force."""
    context = await browser.new_context(viewport={"width": 1000, "height": 900})
    opened = await context.new_page()
    yield opened
    await context.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def site(filled: Filled, declared_vhost: str) -> AsyncIterator[str]:
    """The app over the shared database, listening on 127.0.0.1; its base URL."""
    link = link_to(declared_vhost)
    async with served(build_app(filled.store, link, UNSCHEDULED)) as base:
        yield base
    await link.close()


@pytest_asyncio.fixture(loop_scope="session")
async def past(filled: Filled, declared_vhost: str) -> AsyncIterator[TestClient[Any, Any]]:
    """A test client of the app whose store answers the past from fake_history.past()."""
    link = link_to(declared_vhost)
    site = build_app(replace(filled.store, history=fake_history.past()), link, UNSCHEDULED)
    async with TestClient(TestServer(site, host="127.0.0.1")) as test_client:
        yield test_client
    await link.close()
