"""A `killreport run` stopped for longer than R2Z2 keeps its files comes back, goes on from the feed's
head and fills the gap from the day files: every kill published while it was away is stored once, as
its body (day files carry no zkb), the kills before and after as the feed served them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.sim.testing import running_sim
from killreport.store import tables as t
from tests.cluster import command, embedded_env
from tests.embedded.test_killmail_feed import until_count
from tests.kill_truth import asked_the_head, diff_kills, polite

pytestmark = pytest.mark.timeout(240)
CAP = 5
# Files kept 15 s (more than the 6 s before a 404 is asked again); the head pointer always the newest
# file; today's day files served (the real feed serves a day's once it is over: this test cannot wait
# for midnight).
SIM: dict[str, Any] = {"r2z2_retention_s": 15.0, "r2z2_today": True, "r2z2_sequence_every": 1,
                       "r2z2_per_s": 100}


async def test_a_stop_longer_than_the_feeds_retention_is_filled_from_the_day_files(
        db_url: str, engine: AsyncEngine) -> None:
    async with running_sim(alliances=3, latency_ms=2, **SIM) as sim:
        env = embedded_env(db_url, sim.base_url, KILLMAIL_FEED="true", R2Z2_URL=sim.r2z2_url,
                           R2Z2_MAX_RPS=str(CAP), R2Z2_RETENTION_S="16")
        async with command(env, "run") as runner:
            await asked_the_head(sim)
            await sim.control.publish_kills(8)
            await until_count(engine, 8)
        assert runner.returncode == 0, runner.log[-2000:]
        away = await sim.control.publish_kills(12)
        await asyncio.sleep(18)  # their files are gone, and the copy's newest upload is 18 s old
        async with command(env, "run") as runner:
            await until_count(engine, 20, within_s=120)
            await sim.control.publish_kills(5)
            await until_count(engine, 25, within_s=120)
        assert runner.returncode == 0, runner.log[-2000:]
        assert "away longer than R2Z2 keeps its files" in runner.log, runner.log[-3000:]
        documents = (await sim.control.kills())["kills"]
        gap = {int(d["killmail_id"]) for d in away}
        assert await diff_kills(engine, documents, from_day_files=gap) == []
        async with engine.connect() as conn:
            rows = await conn.execute(select(t.killmails.c.killmail_id, t.killmails.c.source))
            sources = {int(killmail_id): source for killmail_id, source in rows}
        assert {k for k, source in sources.items() if source != "feed"} == gap
        assert polite(await sim.control.stats(), CAP) == []
