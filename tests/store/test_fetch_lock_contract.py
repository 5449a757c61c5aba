"""One fetcher of GET /alliances at a time, whichever processes share the database (both stores).

Two Stores opened on one database stand for two processes (`sync-all` beside a runner's scheduler,
the race that once cost a cache violation); the ESI side is a small fake that counts its calls.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from killreport.domain.cache import Fetched
from killreport.store.schedule import ALLIANCE_LIST
from killreport.sync.orchestrate import alliance_ids
from tests.store.conftest import open_store


class SlowAllianceList:
    """GET /alliances answered after a while (both callers look before either stores), counted."""

    def __init__(self) -> None:
        self.calls = 0

    async def alliance_ids(self) -> Fetched[list[int]]:
        """The list, fresh for an hour."""
        self.calls += 1
        await asyncio.sleep(0.3)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        return Fetched([99000002, 99000001], expires, '"v1"', None)


async def test_one_holder_of_a_fetch_lock_at_a_time(store_url: str) -> None:
    async with open_store(store_url) as a, open_store(store_url) as b:
        order: list[str] = []
        held = asyncio.Event()

        async def first() -> None:
            async with a.jobs.fetch_lock(a.engine, ALLIANCE_LIST):
                order.append("first in")
                held.set()
                await asyncio.sleep(0.3)
                order.append("first out")

        async def second() -> None:
            await held.wait()
            async with b.jobs.fetch_lock(b.engine, ALLIANCE_LIST):
                order.append("second in")

        await asyncio.wait_for(asyncio.gather(first(), second()), 10)
        assert order == ["first in", "first out", "second in"]


async def test_another_path_is_not_held_and_a_failed_block_lets_go(store_url: str) -> None:
    async with open_store(store_url) as a, open_store(store_url) as b:
        entered = asyncio.Event()

        async def failing_holder() -> None:
            async with a.jobs.fetch_lock(a.engine, ALLIANCE_LIST):
                entered.set()
                async with b.jobs.fetch_lock(b.engine, "/other"):  # not kept out by /alliances
                    pass
                raise RuntimeError("the fetch failed")

        holder = asyncio.create_task(failing_holder())
        await entered.wait()
        with pytest.raises(RuntimeError, match="the fetch failed"):
            await holder
        async with asyncio.timeout(5):  # the failed block gave its turn back
            async with b.jobs.fetch_lock(b.engine, ALLIANCE_LIST):
                pass


async def test_two_processes_needing_the_alliance_list_ask_esi_once(store_url: str) -> None:
    esi = SlowAllianceList()
    async with open_store(store_url) as a, open_store(store_url) as b:
        got = await asyncio.wait_for(asyncio.gather(alliance_ids(esi, a), alliance_ids(esi, b)), 10)
    assert list(got) == [[99000001, 99000002], [99000001, 99000002]]
    assert esi.calls == 1, "the list was requested twice before its Expires"
