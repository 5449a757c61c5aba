"""The ESI client's two history routes against the simulator over HTTP: every history reads as the
simulator's truth after changes of every kind, intervals end where the entity is, ETags give 304s once
Expires has passed, and the hidden limit's header-less 429 pauses the budget until the history comes."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from killreport.agent import user_agent
from killreport.budget.memory import MemoryBudget
from killreport.domain.budget_rules import Limits
from killreport.domain.cache import Fetched, NotModified
from killreport.domain.history import employment, membership
from killreport.esi.client import EsiClient
from killreport.esi.errors import Deleted
from killreport.esi.transport import aiohttp_transport
from killreport.sim.mutate import KINDS
from killreport.sim.testing import RunningSim, running_sim
from tests.rules import NO_DOWNTIME

pytestmark = pytest.mark.timeout(120)


class Clock:
    """The simulator's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def client_on(clock: Clock, **options: Any) -> AsyncIterator[
        tuple[RunningSim, EsiClient, MemoryBudget]]:
    """A simulator on `clock` and an ESI client with an in-memory budget whose 429 pause is short."""
    async with running_sim(clock, **options) as sim, aiohttp_transport(8, 4 * 1024 * 1024) as transport:
        budget = MemoryBudget(Limits(max_inflight=8, error_floor=10, lease_ttl_s=20),
                              rules=dataclasses.replace(NO_DOWNTIME, pause_429_s=0.3))
        esi = EsiClient(transport, budget, base_url=sim.base_url,
                        user_agent=user_agent("tests@killreport.invalid"), compatibility_date="2026-08-18",
                        timeout_s=5, max_body_bytes=4 * 1024 * 1024)
        yield sim, esi, budget


def _rows(got: Fetched[Any]) -> list[dict[str, Any]]:
    return [row.model_dump(exclude_none=True) for row in got.data]


async def test_every_history_reads_as_the_truth_after_every_kind_of_change() -> None:
    clock = Clock()
    async with client_on(clock, alliances=10, error_budget=1_000_000) as (sim, esi, _):
        for kind in KINDS:
            clock.now += 60
            await sim.control.mutate(2, [kind])
        # Every entity any truth listed: the histories of retired ones are still served.
        truth, histories = (await sim.control.truth(ever=True))["ever"], await sim.control.histories()
        for corp_id, rows in histories["corporations"].items():
            got = await esi.alliance_history(int(corp_id))
            assert isinstance(got, Fetched) and _rows(got) == rows
            assert membership(got.data)[-1].holder == truth["corporations"][corp_id].get("alliance_id")
        for char_id, rows in histories["characters"].items():
            if int(char_id) in truth["deleted_characters"]:
                with pytest.raises(Deleted):
                    await esi.corporation_history(int(char_id))
                continue
            answer = await esi.corporation_history(int(char_id))
            assert isinstance(answer, Fetched) and _rows(answer) == rows
            stays = employment(answer.data)
            assert stays[-1].end is None
            assert stays[-1].holder == truth["characters"][char_id]["corporation_id"]
        assert (await sim.control.stats())["cache_violations"]["total"] == 0


async def test_etags_give_304_once_expires_has_passed() -> None:
    clock = Clock()
    async with client_on(clock, alliances=3) as (sim, esi, _):
        corp_id = next(c.id for c in sim.sim.universe.corporations.values() if c.alliance_id)
        first = await esi.alliance_history(corp_id)
        assert isinstance(first, Fetched) and first.etag and first.expires_at is not None
        clock.now += 3601  # never before Expires
        again = await esi.alliance_history(corp_id, etag=first.etag)
        assert isinstance(again, NotModified) and again.expires_at is not None
        assert again.expires_at > first.expires_at
        stats = await sim.control.stats()
        assert stats["not_modified"] == 1 and stats["cache_violations"]["total"] == 0


async def test_the_hidden_limit_pauses_the_budget_and_every_history_still_comes() -> None:
    clock = Clock()
    async with client_on(clock, alliances=3, history_per_min=4) as (sim, esi, budget):
        corps = sorted(c.id for c in sim.sim.universe.corporations.values() if not c.npc)[:8]
        fetching = asyncio.ensure_future(asyncio.gather(*(esi.alliance_history(c) for c in corps)))
        while not fetching.done():  # once the simulator refuses, a rolling minute passes on its clock
            await asyncio.sleep(0.1)
            if (await sim.control.stats())["hidden_limit"]["total"] and not fetching.done():
                clock.now += 61
        got = await fetching
        for corp_id, fetched in zip(corps, got, strict=True):
            assert isinstance(fetched, Fetched)
            assert _rows(fetched) == await sim.control.history("corporation", corp_id)
        stats = await sim.control.stats()
        assert stats["hidden_limit"]["total"] >= 1 and stats["limit_violations"]["420"] == 0
        assert (await budget.snapshot()).error_limit_remaining is not None  # the budget kept reading headers
