"""`killreport killmails backfill` SIGKILLed between two batches and run again, on PostgreSQL (with
RabbitMQ) and on a SQLite file: nothing stored twice, nothing missing, and the second run asks ESI for
the missing kills only."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.sim.feed import day_of
from killreport.sim.testing import RunningSim, running_sim
from killreport.store import migrate
from killreport.store import tables as t
from tests.cluster import cli, embedded_env, env_for, migrated, spawn
from tests.embedded.test_backfill_cli import iso_day, killmail_answers, stored_count
from tests.integration.test_backfill import a_day_ago, fronted, truth_of
from tests.stores import engine_for

KILLS, BATCH = 60, 4


@pytest.fixture(params=["postgresql", "sqlite"])
def dialect_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each dialect (PostgreSQL's made for the test)."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("fresh_pg_url"))
    return f"sqlite:///{tmp_path / 'killreport.db'}"


@pytest.fixture
def env_of(request: pytest.FixtureRequest, dialect_url: str) -> dict[str, str]:
    """The command's environment but for the URLs of ESI and R2Z2: a vhost of its own on PostgreSQL."""
    if dialect_url.startswith("postgresql"):
        return env_for(dialect_url, str(request.getfixturevalue("fresh_rabbit_url")), "")
    return embedded_env(dialect_url, "")


@pytest.fixture
async def engine(dialect_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on the database, for reading what the command stored."""
    if dialect_url.startswith("postgresql"):
        await migrated(dialect_url)
    else:
        await asyncio.to_thread(migrate.upgrade, dialect_url)
    made = engine_for(dialect_url)
    yield made
    await made.dispose()


async def _settled(sim: RunningSim) -> None:
    """Until the simulator answered every request in flight (a killed process's last ones too)."""
    for _ in range(500):
        if not (await sim.control.stats())["in_flight"]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the simulator still has requests in flight")


async def _stored(engine: AsyncEngine) -> dict[int, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(t.killmails.c.killmail_id, t.killmails.c.hash))
        return {int(r.killmail_id): str(r.hash) for r in rows}


async def test_a_backfill_killed_between_batches_resumes_with_nothing_twice_and_nothing_missing(
        env_of: dict[str, str], engine: AsyncEngine, tmp_path: Path) -> None:
    async with running_sim(alliances=5, clock=a_day_ago(), r2z2_today=True, kill_late_share=0,
                           latency_ms=40) as sim, fronted(sim) as (front, url):
        await sim.control.publish_kills(KILLS, late=False)
        day = day_of(sim.sim.clock())
        front.answers[f"/history/raw/{day}.json"] = [(404, b"{}", {})] * 2  # every body from ESI, slowly
        # A killed runner's leases count until their TTL (ESI_TIMEOUT_S + 10 s): the rerun waits less.
        env = {**env_of, "ESI_BASE_URL": sim.base_url, "R2Z2_URL": url, "ESI_TIMEOUT_S": "2"}
        args = ("killmails", "backfill", "--from", iso_day(day), "--batch", str(BATCH))
        killed = await spawn(env, tmp_path / "first.log", *args)
        while await stored_count(engine) < 3 * BATCH:
            assert killed.proc.returncode is None, killed.read_log()
            await asyncio.sleep(0.02)
        killed.proc.send_signal(signal.SIGKILL)
        await killed.proc.wait()
        before = await stored_count(engine)
        await _settled(sim)
        first = killmail_answers(await sim.control.reset_stats())
        done = await cli(env, *args, timeout_s=120)
        second = killmail_answers(await sim.control.stats())
        truth = await truth_of(sim, day)
    assert done.code == 0, done.err
    assert 3 * BATCH <= before < KILLS and "complete" in done.out
    assert await _stored(engine) == {k: v["hash"] for k, v in truth.items()}
    assert second == {"200": KILLS - before}, "the second run asks only what is missing"
    assert first.get("200", 0) - before <= 8, "the first run lost at most its requests in flight"
    assert "429" not in first and "429" not in second
