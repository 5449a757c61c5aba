"""The daily snapshots as users run them: scheduler processes on PostgreSQL, RabbitMQ and the
simulator over HTTP; and `killreport run` on a SQLite file, restarted.

A day cannot be made to turn here (the snapshots follow the database's clock), so these show the
processes' side: the first leader to run takes today's, and a leader after a SIGKILL, a restarted
one, or a restarted runner finds it taken; one row per entity, written once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.sim.testing import running_sim
from killreport.store import tables as t
from tests.cluster import Worker, cli, command, embedded_env, env_for, workers
from tests.integration.test_scheduler_processes import holder_pid, leader_of
from tests.stores import engine_for

pytestmark = pytest.mark.timeout(240)
TAKEN = "daily snapshots"


async def _expected(engine: AsyncEngine) -> int:
    """Open alliances whose member list is held, and active corporations: a row each."""
    a, c = t.alliances.c, t.corporations.c
    async with engine.connect() as conn:
        alliances = (await conn.execute(select(func.count()).where(
            a.closed_at.is_(None), a.members_fetched_at.isnot(None)))).scalar_one()
        corporations = (await conn.execute(select(func.count()).where(c.state != "closed"))).scalar_one()
    return int(alliances) + int(corporations)


async def _snapshots(engine: AsyncEngine) -> tuple[Counter[tuple[str, int, dt.date]], set[dt.datetime]]:
    """How often each (kind, id, day) is held, and every taken_at."""
    s = t.entity_snapshots.c
    async with engine.connect() as conn:
        rows = (await conn.execute(select(s.kind, s.entity_id, s.day, s.taken_at))).all()
    return Counter((r.kind, r.entity_id, r.day) for r in rows), {r.taken_at for r in rows}


async def test_two_schedulers_a_takeover_and_a_restart_take_the_day_once(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    async with running_sim(alliances=6) as sim:
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, LOG_LEVEL="INFO")
        async with workers(env, 1):
            assert (await cli(env, "sync-all", "--wait")).code == 0
            expected = await _expected(engine)
            async with command(env, "scheduler") as one, command(env, "scheduler") as two:
                await asyncio.wait_for(_logged_by_either(one, two), 60)
                first, taken_at = await _snapshots(engine)
                lead = holder_pid(await leader_of(engine))
                dead, survivor = (one, two) if lead == one.proc.pid else (two, one)
                dead.proc.send_signal(signal.SIGKILL)
                await survivor.until_logged("written=0", within_s=30)
            async with command(env, "scheduler") as restarted:
                await restarted.until_logged("written=0", within_s=30)
    today = dt.datetime.now(dt.UTC).date()
    again, taken_again = await _snapshots(engine)
    assert expected > 20 and len(first) == expected
    assert set(first.values()) == {1} and {day for _, _, day in first} == {today}
    assert (again, taken_again) == (first, taken_at), "nothing written after the first leader's"
    assert len(taken_at) == 1, "one statement took the whole day"


async def _logged_by_either(one: Worker, two: Worker) -> None:
    """Until one of the two schedulers logs the day's snapshots as taken."""
    while True:
        if any(TAKEN in w.read_log() for w in (one, two)):
            return
        await asyncio.sleep(0.1)


async def test_a_restarted_runner_takes_todays_if_not_taken_and_never_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'killreport.db'}"
    async with running_sim(alliances=4) as sim:
        env = embedded_env(url, sim.base_url, LOG_LEVEL="INFO")
        async with command(env, "run") as first:
            await first.until_logged(TAKEN, within_s=60)
            assert (await cli(env, "sync-all", "--wait")).code == 0
        engine = engine_for(url)
        try:
            # What a runner stopped before midnight leaves: the copy, and no row for today.
            async with engine.begin() as conn:
                await conn.execute(t.entity_snapshots.delete())
            expected = await _expected(engine)
            async with command(env, "run") as second:
                await second.until_logged(f"written={expected}", within_s=60)
            taken = await _snapshots(engine)
            async with command(env, "run") as third:
                await third.until_logged("written=0", within_s=60)
            assert await _snapshots(engine) == taken
        finally:
            await engine.dispose()
    assert expected > 10 and len(taken[0]) == expected and set(taken[0].values()) == {1}
