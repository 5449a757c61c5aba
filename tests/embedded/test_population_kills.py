"""Kills bring the simulator's lazy population into the copy: `killreport run` follows the feed of a
simulator whose pilots are nearly all derived from their ids, and ends holding each one a kill names (and
the CEOs of their corporations) as the simulator serves it."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.sim.population import CHARACTER_BASE, CORPORATION_BASE
from killreport.sim.testing import RunningSim, running_sim
from killreport.store import tables as t
from tests.cluster import command, embedded_env
from tests.kill_truth import asked_the_head, diff_copy_with_named, diff_kills

pytestmark = pytest.mark.timeout(300)
CHARS, CORPS = 20_000, 1_000


async def _stored_population(engine: AsyncEngine) -> dict[str, set[int]]:
    async with engine.connect() as conn:
        chars = set((await conn.execute(select(t.characters.c.id))).scalars())
        corps = set((await conn.execute(select(t.corporations.c.id))).scalars())
    return {"character": {c for c in chars if CHARACTER_BASE <= c < CHARACTER_BASE + CHARS},
            "corporation": {c for c in corps if CORPORATION_BASE <= c < CORPORATION_BASE + CORPS}}


async def _until_equal(engine: AsyncEngine, sim: RunningSim, within_s: float) -> dict[str, set[int]]:
    deadline, problems = time.monotonic() + within_s, ["nothing compared yet"]
    while time.monotonic() < deadline:
        documents = (await sim.control.kills())["kills"]
        stored = await _stored_population(engine)
        problems = await diff_kills(engine, documents) or await diff_copy_with_named(
            engine, sim, documents, also=stored)
        if not problems:
            return stored
        await asyncio.sleep(1.0)
    raise AssertionError(f"not equal after {within_s:.0f} s: {problems[:10]}")


async def test_kills_bring_population_pilots_and_their_corporations_into_the_copy(
        db_url: str, engine: AsyncEngine) -> None:
    async with running_sim(alliances=3, latency_ms=2, population_characters=CHARS,
                           population_corporations=CORPS) as sim:
        env = embedded_env(db_url, sim.base_url, KILLMAIL_FEED="true", R2Z2_URL=sim.r2z2_url,
                           R2Z2_MAX_RPS="10")
        async with command(env, "run") as runner:
            await asked_the_head(sim)
            await sim.control.publish_kills(12)
            # Every kill, every player it names and every population entity the copy reached, stored as
            # the simulator serves them now.
            stored = await _until_equal(engine, sim, within_s=200)
        assert runner.returncode == 0, runner.log[-3000:]
    assert stored["character"] and stored["corporation"]
