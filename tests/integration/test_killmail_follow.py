"""`killreport killmails follow` in the distributed mode: real PostgreSQL and RabbitMQ, follower and
worker processes, the simulator's misbehaving feed. One follower follows; a second stands by and takes
over when the first is SIGKILLed in the middle of a burst, and nothing is lost, doubled or skipped."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from killreport.config import sqlalchemy_url
from killreport.sim.feed import FIRST_SEQUENCE
from killreport.sim.testing import running_sim
from killreport.store import tables as t
from tests.cluster import Worker, cli, command, env_for, migrated, workers
from tests.kill_truth import FEED_OPTIONS, asked_the_head, kill_count, polite, publish_rounds, until_stored
from tests.private_pg import PrivatePostgres

pytestmark = pytest.mark.timeout(300)
CAP = 5


async def _feed_row(engine: AsyncEngine) -> tuple[int | None, str | None]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(t.killmail_feed.c.cursor, t.killmail_feed.c.holder))).first()
    return (None, None) if row is None else (row.cursor, row.holder)


async def test_a_follower_and_a_worker_keep_every_kill_and_everyone_on_them(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    async with running_sim(alliances=6, latency_ms=2, **FEED_OPTIONS) as sim:
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, R2Z2_URL=sim.r2z2_url,
                      R2Z2_MAX_RPS=str(CAP))
        async with workers(env, 1), command(env, "killmails", "follow") as follower:
            synced = await cli(env, "sync-all", "--wait", timeout_s=200)
            assert synced.code == 0, synced.err[-2000:]
            await asked_the_head(sim)
            published = await publish_rounds(sim)
            kills = await until_stored(engine, sim, within_s=200)
            assert len(kills) == published == await kill_count(engine)
            cursor, holder = await _feed_row(engine)
            assert cursor == FIRST_SEQUENCE + published and holder == f"{_host()}:{follower.proc.pid}"
            assert polite(await sim.control.stats(), CAP) == [], follower.read_log()[-3000:]
        assert follower.returncode == 0 and "Traceback" not in follower.log, follower.log[-3000:]
        assert (await _feed_row(engine))[1] is None, "a clean stop says nobody follows"


async def test_a_standby_takes_over_from_a_follower_killed_mid_burst(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    async with running_sim(alliances=3, latency_ms=2, **FEED_OPTIONS) as sim:
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, R2Z2_URL=sim.r2z2_url,
                      R2Z2_MAX_RPS=str(CAP), SCHEDULER_POLL_S="0.5")
        async with workers(env, 1), command(env, "killmails", "follow") as one, \
                command(env, "killmails", "follow") as two:
            synced = await cli(env, "sync-all", "--wait", timeout_s=200)
            assert synced.code == 0, synced.err[-2000:]
            await asked_the_head(sim)
            await sim.control.publish_kills(3)
            leader = await _leader(engine, (one, two))
            await sim.control.publish_kills(80)  # 16 s of work at the cap
            await _stored_at_least(engine, 20)
            os.kill(leader.proc.pid, signal.SIGKILL)
            standby = two if leader is one else one
            published = 83 + await publish_rounds(sim)
            kills = await until_stored(engine, sim, within_s=200)
            assert len(kills) == published == await kill_count(engine)
            cursor, holder = await _feed_row(engine)
            assert cursor == FIRST_SEQUENCE + published and holder == f"{_host()}:{standby.proc.pid}"
            async with engine.connect() as conn:
                assert (await conn.execute(select(t.killmail_holes))).all() == [], "no number skipped"
            assert polite(await sim.control.stats(), CAP) == []
        assert standby.returncode == 0, standby.log[-3000:]


def _host() -> str:
    return os.uname().nodename


async def _leader(engine: AsyncEngine, candidates: tuple[Worker, ...], within_s: float = 60.0) -> Worker:
    """The follower process the killmail_feed row names (once the feed has a row)."""
    for _ in range(int(within_s / 0.2)):
        holder = (await _feed_row(engine))[1]
        for candidate in candidates:
            if holder == f"{_host()}:{candidate.proc.pid}":
                return candidate
        await asyncio.sleep(0.2)
    raise AssertionError(f"no follower named within {within_s} s")


async def _stored_at_least(engine: AsyncEngine, count: int, within_s: float = 60.0) -> None:
    for _ in range(int(within_s / 0.1)):
        if await kill_count(engine) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} kills stored within {within_s} s")


async def test_postgresql_restarted_while_following_loses_skips_and_doubles_nothing(
        fresh_rabbit_url: str) -> None:
    pg = PrivatePostgres()
    pg.init()
    pg.start()
    try:
        await migrated(pg.url)
        eng = create_async_engine(sqlalchemy_url(pg.url), pool_pre_ping=True)  # its pool outlives the restart
        async with running_sim(alliances=2, latency_ms=2, **FEED_OPTIONS) as sim:
            env = env_for(pg.url, fresh_rabbit_url, sim.base_url, R2Z2_URL=sim.r2z2_url,
                          R2Z2_MAX_RPS=str(CAP))
            async with workers(env, 1), command(env, "killmails", "follow") as follower:
                await asked_the_head(sim)
                await sim.control.publish_kills(60)  # 12 s of work at the cap
                await _stored_at_least(eng, 10)
                await asyncio.to_thread(pg.stop)
                await asyncio.sleep(3)
                await asyncio.to_thread(pg.start)
                published = 60 + await publish_rounds(sim)
                kills = await until_stored(eng, sim, within_s=200)
                assert len(kills) == published == await kill_count(eng)
                async with eng.connect() as conn:
                    assert (await conn.execute(select(t.killmail_holes))).all() == [], "no number skipped"
                assert polite(await sim.control.stats(), CAP) == []
            assert follower.returncode == 0, follower.log[-3000:]
            # It saw the outage (as a failed write, or as its place's session lost) and came back.
            assert "follower failed" in follower.log or "standing by" in follower.log, follower.log[-3000:]
            assert "unexpected error" not in follower.log, follower.log[-3000:]
        await eng.dispose()
    finally:
        await asyncio.to_thread(pg.destroy)
