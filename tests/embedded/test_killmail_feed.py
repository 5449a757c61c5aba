"""`killreport run` follows the R2Z2 feed into the SQLite file beside its scheduler and worker, as a
newcomer runs it: stale 404s, republished and late kills, and bursts faster than the cap end with the
copy holding every published kill once and every pilot they name, the feed and ESI asked politely."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.runner_lock import holder
from killreport.sim.feed import FIRST_SEQUENCE
from killreport.sim.testing import running_sim
from killreport.store.sqlite.engine import path_of
from tests.cluster import cli, command, embedded_env
from tests.kill_truth import (
    FEED_OPTIONS,
    asked_the_head,
    diff_kills,
    kill_count,
    polite,
    publish_rounds,
    until_stored,
)

pytestmark = pytest.mark.timeout(300)
CAP = 5


async def test_run_follows_the_feed_into_the_file_and_fetches_everyone_the_kills_name(
        db_url: str, engine: AsyncEngine) -> None:
    async with running_sim(alliances=6, latency_ms=2, **FEED_OPTIONS) as sim:
        env = embedded_env(db_url, sim.base_url, KILLMAIL_FEED="true", R2Z2_URL=sim.r2z2_url,
                           R2Z2_MAX_RPS=str(CAP))
        async with command(env, "run") as runner:
            await asked_the_head(sim)
            published = await publish_rounds(sim)
            kills = await until_stored(engine, sim, within_s=200)
            assert len(kills) == published == await kill_count(engine)
            status = await cli(env, "status", "--json")
            assert status.code == 0, status.err
            feed = json.loads(status.out)["killmails"]["feed"]
            assert feed["following"] and feed["holder"] and feed["last_error"] is None
            assert feed["cursor"] > FIRST_SEQUENCE + published - 1 and feed["stored"] == published
            assert feed["holes"] == 0 and feed["rejected"] == 0
            stats = await sim.control.stats()
            assert polite(stats, CAP) == [], runner.read_log()[-3000:]
            # What the feed put in the way was met: 404s asked again later, kills republished.
            assert stats["r2z2"]["asked_again_after_404"]["min_gap_s"] is not None
            assert any(k.get("sequence_updated") for k in kills)
        assert runner.returncode == 0, runner.log[-3000:]
        assert "Traceback" not in runner.log, runner.log[-3000:]


async def test_killmail_feed_false_keeps_run_off_the_feed(db_url: str) -> None:
    async with running_sim(alliances=2, latency_ms=1) as sim:
        env = embedded_env(db_url, sim.base_url, KILLMAIL_FEED="false", R2Z2_URL=sim.r2z2_url)
        async with command(env, "run") as runner:
            await until_held(db_url)
            done = await cli(env, "sync-all", "--wait", timeout_s=120)
            assert done.code == 0 and "the runner works them" in done.err, done.err[-2000:]
        assert runner.returncode == 0, runner.log[-2000:]
        assert (await sim.control.stats())["r2z2"]["requests"] == 0


async def test_killmails_follow_on_a_file_starts_from_the_number_given_and_refuses_a_bad_one(
        db_url: str, engine: AsyncEngine) -> None:
    async with running_sim(alliances=2, latency_ms=1) as sim:
        env = embedded_env(db_url, sim.base_url, R2Z2_URL=sim.r2z2_url, R2Z2_MAX_RPS=str(CAP))
        bad = await cli(env, "killmails", "follow", "--from", "-3")
        assert bad.code == 2 and "--from must be a sequence number" in bad.err, bad.err
        documents = await sim.control.publish_kills(12)
        async with command(env, "killmails", "follow", "--from", str(FIRST_SEQUENCE + 5)) as follower:
            kept = documents[5:]
            await asked_the_head(sim)  # the process has made the file's schema by then
            await until_count(engine, len(kept))
        assert follower.returncode == 0, follower.log[-2000:]
        assert await diff_kills(engine, kept) == []  # the seven from the number given, no earlier one


async def until_count(engine: AsyncEngine, count: int, within_s: float = 60.0) -> None:
    for _ in range(int(within_s / 0.2)):
        if await kill_count(engine) >= count:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"fewer than {count} kills within {within_s} s")


async def until_held(db_url: str, within_s: float = 30.0) -> None:
    """Wait until a runner holds the file (a process needs a moment to start and take the lock)."""
    for _ in range(int(within_s / 0.1)):
        if holder(path_of(db_url)) is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no runner took {db_url} within {within_s} s")
