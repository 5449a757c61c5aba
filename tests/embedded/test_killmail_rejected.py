"""A package whose killmail fails CCP's schema, met by `killreport run` on the real feed path: kept aside
with its reason and shown in `status`, never stored as a kill, and the feed goes on past it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.sim.testing import running_sim
from killreport.store import tables as t
from tests.cluster import cli, command, embedded_env
from tests.embedded.test_killmail_feed import until_count
from tests.kill_truth import asked_the_head, diff_kills

pytestmark = pytest.mark.timeout(180)


async def test_a_package_failing_the_schema_is_kept_aside_shown_and_passed(
        db_url: str, engine: AsyncEngine) -> None:
    async with running_sim(alliances=2, latency_ms=2, r2z2_sequence_every=1) as sim:
        env = embedded_env(db_url, sim.base_url, KILLMAIL_FEED="true", R2Z2_URL=sim.r2z2_url,
                           R2Z2_MAX_RPS="5")
        async with command(env, "run") as runner:
            await asked_the_head(sim)
            good = await sim.control.publish_kills(3)
            [bad] = await sim.control.publish_kills(1, broken=True)
            good += await sim.control.publish_kills(3)
            await until_count(engine, 6)
            status = await cli(env, "status", "--json")
        assert runner.returncode == 0, runner.log[-2000:]
        assert status.code == 0, status.err
        feed = json.loads(status.out)["killmails"]["feed"]
        assert (feed["stored"], feed["rejected"]) == (6, 1)
        assert await diff_kills(engine, good) == []
        async with engine.connect() as conn:
            [kept] = (await conn.execute(select(t.killmail_rejected))).mappings().all()
        assert (kept["sequence_id"], kept["killmail_id"]) == (bad["sequence_id"], bad["killmail_id"])
        assert "victim" in kept["reason"]
        assert json.loads(kept["body"]) == bad, "the file is kept as it came"
