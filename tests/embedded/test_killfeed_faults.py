"""The follower's life in one process over a real SQLite store and the simulator's feed: a database
failure in the middle of a save is waited out and following starts again from the stored cursor
(nothing lost, nothing doubled), and a stop that comes during a write lets it finish, then sends
nothing more. The store's killmail queries are wrapped to fail or hold one save: the seam's fake."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.config import Settings
from killreport.domain.killmail import Kill, Rejected
from killreport.killfeed import main as killfeed
from killreport.queue.stub import StubBroker
from killreport.sim.feed import FIRST_SEQUENCE
from killreport.sim.testing import RunningSim, running_sim
from killreport.store.interface import KillmailQueries, Store
from tests.embedded.sqlite_files import db_file, db_url, engine, migrated_template
from tests.kill_truth import diff_kills, kill_count
from tests.stores import as_store, engine_for

__all__ = ["db_file", "db_url", "engine", "migrated_template"]

pytestmark = pytest.mark.timeout(120)


class Saves:
    """store.killmails with `save` failing the first `fail` times (a dropped connection), and holding
    each save at `gate` while it is closed."""

    def __init__(self, inner: KillmailQueries, fail: int = 0) -> None:
        self._inner, self.fail, self.failed, self.done = inner, fail, 0, 0
        self.gate, self.entered = asyncio.Event(), asyncio.Event()
        self.gate.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def save(self, conn: Any, kills: Sequence[Kill], rejected: Sequence[Rejected] = (),
                   cursor: int | None = None) -> Any:
        self.entered.set()
        await self.gate.wait()
        if self.failed < self.fail:
            self.failed += 1
            raise ConnectionResetError("the database went away")
        saved = await self._inner.save(conn, kills, rejected, cursor)
        self.done += 1
        return saved


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    made = as_store(engine_for(db_url), db_url, lend=True)
    yield made
    await made.close()


def settings_for(sim: RunningSim, db: str) -> Settings:
    return Settings(database_url=db, r2z2_url=sim.r2z2_url, r2z2_max_rps=10, reconnect_max_delay_s=2,
                    esi_contact="tests@killreport.invalid", _env_file=None)


async def until(check: Any, within_s: float = 60.0) -> None:
    for _ in range(int(within_s / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not so within {within_s} s")


async def test_a_failed_save_is_waited_out_and_following_starts_again_from_the_stored_cursor(
        store: Store, db_url: str, engine: AsyncEngine) -> None:
    saves = Saves(store.killmails, fail=1)
    flaky = dataclasses.replace(store, killmails=cast(KillmailQueries, saves))

    async def _at_least(count: int) -> bool:
        return await kill_count(engine) >= count

    async with running_sim(alliances=2, latency_ms=1) as sim:
        published = await sim.control.publish_kills(5)
        stop = asyncio.Event()
        following = asyncio.create_task(killfeed.run(settings_for(sim, db_url), stop, store=flaky,
                                                     queue=StubBroker(), start_at=FIRST_SEQUENCE))
        try:
            await until(lambda: _at_least(5))
        finally:
            stop.set()
            await asyncio.wait_for(following, 30)
    assert saves.failed == 1 and saves.done == 5
    assert await diff_kills(engine, published) == [] and await kill_count(engine) == 5


async def test_a_stop_during_a_write_lets_it_finish_and_nothing_more_is_sent(
        store: Store, db_url: str, engine: AsyncEngine) -> None:
    saves = Saves(store.killmails)
    saves.gate.clear()
    held = dataclasses.replace(store, killmails=cast(KillmailQueries, saves))
    async with running_sim(alliances=2, latency_ms=1) as sim:
        published = await sim.control.publish_kills(3)
        stop = asyncio.Event()
        following = asyncio.create_task(killfeed.run(settings_for(sim, db_url), stop, store=held,
                                                     queue=StubBroker(), start_at=FIRST_SEQUENCE))
        await asyncio.wait_for(saves.entered.wait(), 30)
        asked = (await sim.control.stats())["r2z2"]["requests"]
        stop.set()  # SIGTERM, while the first kill is being written
        await asyncio.sleep(0.5)
        assert not following.done(), "it waits for the write in progress"
        saves.gate.set()
        await asyncio.wait_for(following, 30)
        assert (await sim.control.stats())["r2z2"]["requests"] == asked, "nothing sent after the stop"
    assert saves.done == 1 and await diff_kills(engine, published[:1]) == []


