"""Keeping the copy fresh (issue 9), through the job path against the simulator over HTTP.

The simulator's `cache_scale` makes caches seconds long (0.0001: alliances and corporations under
1.4 s, characters under 10 s); a real EsiClient with an in-memory budget and the JobProcessor on a
stub broker do the work, so every request the simulator counts is one a worker would make.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.agent import user_agent
from killreport.budget.memory import MemoryBudget
from killreport.domain.budget_rules import Limits
from killreport.esi.client import EsiClient
from killreport.esi.transport import aiohttp_transport
from killreport.ids import Kind
from killreport.queue.stub import StubBroker
from killreport.sim.testing import RunningSim, running_sim
from killreport.sync.enqueue import enqueue
from killreport.sync.process import JobProcessor
from tests.integration.test_process import run_until_idle
from tests.rules import NO_DOWNTIME
from tests.stores import as_store
from tests.truth import diff_against_truth

pytestmark = pytest.mark.timeout(240)

CACHE_SCALE: Final = 0.0001
TABLES: Final[dict[Kind, str]] = {"alliance": "alliances", "corporation": "corporations",
                                  "character": "characters"}


@asynccontextmanager
async def synced(engine: AsyncEngine, alliances: int, cache_scale: float = CACHE_SCALE) -> AsyncIterator[
        tuple[RunningSim, JobProcessor, StubBroker]]:
    """A simulator with short caches, a JobProcessor with a real ESI client on it, a first pass done."""
    async with running_sim(alliances=alliances, cache_scale=cache_scale) as sim, \
            aiohttp_transport(8, 4 * 1024 * 1024) as transport:
        budget = MemoryBudget(Limits(max_inflight=8, error_floor=10, lease_ttl_s=20), rules=NO_DOWNTIME)
        esi = EsiClient(transport, budget,
                        base_url=sim.base_url, user_agent=user_agent("tests@killreport.invalid"),
                        compatibility_date="2026-08-18", timeout_s=5, max_body_bytes=4 * 1024 * 1024)
        broker = StubBroker()
        processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=60)
        await sync_everything(engine, sim, processor, broker)
        yield sim, processor, broker


async def sync_everything(engine: AsyncEngine, sim: RunningSim, processor: JobProcessor,
                          broker: StubBroker) -> None:
    """A first pass: every alliance of the truth, and the cascade."""
    truth = await sim.control.truth()
    ids = [int(a) for a in truth["alliances"]]
    await enqueue(as_store(engine), broker, "alliance", ids, skip_fresh=False)
    await run_until_idle(broker, processor)
    assert await diff_against_truth(engine, truth) == []


async def stored_ids(engine: AsyncEngine) -> dict[Kind, set[int]]:
    async with engine.connect() as conn:
        return {kind: set((await conn.execute(text(f"SELECT id FROM {table}"))).scalars())
                for kind, table in TABLES.items()}


async def until_expired(engine: AsyncEngine, ids: dict[Kind, set[int]]) -> None:
    """Sleep until every Expires stored for these entities (member lists included) has passed."""
    latest = dt.datetime.now(dt.UTC)
    async with engine.connect() as conn:
        for kind, table in TABLES.items():
            columns = "greatest(expires_at, members_expires_at)" if kind == "alliance" else "expires_at"
            got = (await conn.execute(text(f"SELECT max({columns}) FROM {table} WHERE id = ANY(:ids)"),
                                      {"ids": sorted(ids[kind])})).scalar_one()
            latest = max(latest, got or latest)
    await asyncio.sleep((latest - dt.datetime.now(dt.UTC)).total_seconds() + 0.2)


async def refresh(engine: AsyncEngine, processor: JobProcessor, broker: StubBroker,
                  ids: dict[Kind, set[int]]) -> None:
    """Queue these entities (as a scheduler would once their Expires passed) and run every job."""
    for kind, some in ids.items():
        if some:
            await enqueue(as_store(engine), broker, kind, some, skip_fresh=False)
    await run_until_idle(broker, processor)


async def rows(engine: AsyncEngine) -> dict[str, dict[int, dict[str, Any]]]:
    async with engine.connect() as conn:
        return {table: {r["id"]: dict(r)
                        for r in (await conn.execute(text(f"SELECT * FROM {table}"))).mappings()}
                for table in TABLES.values()}


async def logged(engine: AsyncEngine) -> list[tuple[str, int, str, Any, Any]]:
    async with engine.connect() as conn:
        return sorted(tuple(r) for r in (await conn.execute(text(
            "SELECT kind, entity_id, field, old_value, new_value FROM changes"))).all())


async def test_a_second_pass_after_expires_answers_304_and_moves_only_expires_and_checked(
        engine: AsyncEngine) -> None:
    async with synced(engine, alliances=8) as (sim, processor, broker):
        stored = await stored_ids(engine)
        await until_expired(engine, stored)
        before = await rows(engine)
        first = await sim.control.stats()
        await sim.control.reset_stats()
        await refresh(engine, processor, broker, stored)
        stats = await sim.control.stats()
        after = await rows(engine)
    assert first["cache_violations"]["total"] == 0
    assert stats["cache_violations"]["total"] == 0
    assert stats["requests"] == stats["not_modified"] == sum(len(s) for s in stored.values()) + len(
        stored["alliance"]), "every stored resource asked once, conditionally, and unchanged"
    for table, old in before.items():
        assert set(after[table]) == set(old)
        for entity_id, row in after[table].items():
            moved = {c for c in row if row[c] != old[entity_id][c]}
            assert moved == ({"expires_at", "checked_at", "members_expires_at", "members_checked_at"}
                             if table == "alliances" else {"expires_at", "checked_at"}), (table, entity_id)
    assert await logged(engine) == []


async def test_an_alliance_whose_member_list_fails_never_asks_for_its_detail_again_before_expires(
        engine: AsyncEngine) -> None:
    # Alliances cache for 7.2 s here: the detail stays fresh while the member list is retried.
    async with synced(engine, alliances=8, cache_scale=0.002) as (sim, processor, broker):
        truth = await sim.control.truth()
        alliance = max(truth["alliances"], key=lambda a: len(truth["alliance_corporations"][a]))
        await until_expired(engine, {"alliance": {int(alliance)}, "corporation": set(), "character": set()})
        await sim.control.reset_stats()
        # 500, not 503: ESI's 503 body is the downtime one, which pauses the budget for a while.
        await sim.control.override(f"/alliances/{alliance}/corporations", status=500, times=2)
        await refresh(engine, processor, broker, {"alliance": {int(alliance)}})
        stats = await sim.control.stats()
    by_route = stats["by_route"]
    assert by_route["GET /alliances/{alliance_id}/corporations"] == {"500": 2, "304": 1}
    assert by_route["GET /alliances/{alliance_id}"] == {"304": 1}, "the detail was asked again"
    assert stats["cache_violations"]["total"] == 0


# Fields a job cannot see: `listed` is the alliance list's (the scheduler records it as `closed`), and
# `exists` is a first sighting, which is no change.
NOT_A_JOBS_FIELD: Final = {"listed", "exists"}
KIND_OF: Final[dict[str, Kind]] = {"alliance": "alliance", "corporation": "corporation",
                                   "character": "character"}


Logged = list[tuple[str, int, str, Any, Any]]


def expected_changes(log: dict[str, Any], stored: dict[Kind, set[int]]) -> Logged:
    """The simulator's field log, restricted to what the copy held before the change."""
    return sorted((row["entity"], row["id"], row["field"], row["old"], row["new"])
                  for change in log["changes"] for row in change["fields"]
                  if row["field"] not in NOT_A_JOBS_FIELD and row["id"] in stored[KIND_OF[row["entity"]]])


@pytest.mark.parametrize("change", ["hop", "ceo", "rename", "close_corporation", "disband_alliance",
                                    "executor", "biomass_character"])
async def test_each_kind_of_change_is_recorded_exactly_when_the_entity_is_refreshed(
        engine: AsyncEngine, change: str) -> None:
    async with synced(engine, alliances=12) as (sim, processor, broker):
        stored = await stored_ids(engine)
        log = await sim.control.mutate(1, [change])
        assert [c["change"] for c in log["changes"]] == [change]
        touched: dict[Kind, set[int]] = {
            kind: set(log[f"{kind}s"]) & stored[kind] for kind in ("alliance", "corporation", "character")}
        await until_expired(engine, touched)
        await refresh(engine, processor, broker, touched)
        expected = expected_changes(log, stored)
        assert expected, "the change touched nothing the copy holds"
        assert await logged(engine) == expected
        assert await diff_against_truth(engine, await sim.control.truth(ever=True)) == []
        assert (await sim.control.stats())["cache_violations"]["total"] == 0
