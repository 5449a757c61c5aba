"""`killreport killmails backfill` as a user runs it on a SQLite file: killed by SIGKILL between two
batches and run again (nothing stored twice, nothing missing, only the missing kills asked of ESI), a
runner holding the file (no ESI request from the command), and one clear line for each bad input and
each unreachable service."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.runner_lock import RunnerLock
from killreport.sim.feed import day_of
from killreport.sim.testing import RunningSim, running_sim
from killreport.store import tables as t
from killreport.store.sqlite.engine import path_of
from tests.cluster import cli, cli_here, embedded_env, spawn
from tests.integration.test_backfill import a_day_ago, fronted, truth_of


def _iso(day: str) -> str:
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"


async def _count(engine: AsyncEngine) -> int:
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(t.killmails))).scalar_one())
    except Exception:  # the command is still creating the file's schema
        return 0


async def _stored(engine: AsyncEngine) -> dict[int, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(t.killmails.c.killmail_id, t.killmails.c.hash))
        return {int(r.killmail_id): str(r.hash) for r in rows}


async def _settled(sim: RunningSim) -> None:
    """Until the simulator answered every request in flight (a killed process's last ones too)."""
    for _ in range(500):
        if not (await sim.control.stats())["in_flight"]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the simulator still has requests in flight")


def _killmail_answers(stats: dict[str, object]) -> dict[str, int]:
    by_route = stats["by_route"]
    assert isinstance(by_route, dict)
    out: dict[str, int] = {}
    for route, counts in by_route.items():
        if "killmails" in route:
            for code, n in counts.items():
                out[code] = out.get(code, 0) + n
    return out


async def test_a_backfill_killed_between_batches_resumes_with_nothing_twice_and_nothing_missing(
        db_url: str, engine: AsyncEngine, tmp_path: Path) -> None:
    async with running_sim(alliances=5, clock=a_day_ago(), r2z2_today=True, kill_late_share=0,
                           latency_ms=40) as sim, fronted(sim) as (front, url):
        await sim.control.publish_kills(60, late=False)
        day = day_of(sim.sim.clock())
        front.answers[f"/history/raw/{day}.json"] = [(404, b"{}", {})] * 2  # every body from ESI, slowly
        # A killed runner's leases count until their TTL (ESI_TIMEOUT_S + 10 s): the rerun waits less.
        env = embedded_env(db_url, sim.base_url, R2Z2_URL=url, ESI_TIMEOUT_S="2")
        args = ("killmails", "backfill", "--from", _iso(day), "--batch", "4")
        killed = await spawn(env, tmp_path / "first.log", *args)
        while await _count(engine) < 12:
            assert killed.proc.returncode is None, killed.read_log()
            await asyncio.sleep(0.02)
        killed.proc.send_signal(signal.SIGKILL)
        await killed.proc.wait()
        before = await _count(engine)
        await _settled(sim)
        first = _killmail_answers(await sim.control.reset_stats())
        done = await cli(env, *args, timeout_s=120)
        second = _killmail_answers(await sim.control.stats())
        truth = await truth_of(sim, day)
    assert done.code == 0, done.err
    assert 12 <= before < 60 and "complete" in done.out
    assert await _stored(engine) == {k: v["hash"] for k, v in truth.items()}
    assert second == {"200": 60 - before}, "the second run asks only what is missing"
    assert first.get("200", 0) - before <= 8, "the first run lost at most its requests in flight"
    assert "429" not in first and "429" not in second


async def test_beside_a_runner_the_command_sends_no_esi_request_and_says_why(
        db_url: str, engine: AsyncEngine) -> None:
    async with running_sim(alliances=5, clock=a_day_ago(), r2z2_today=True, kill_late_share=0) as sim, \
            fronted(sim) as (front, url):
        await sim.control.publish_kills(5, late=False)
        day = day_of(sim.sim.clock())
        front.answers[f"/history/raw/{day}.json"] = [(404, b"{}", {})]
        env = embedded_env(db_url, sim.base_url, R2Z2_URL=url)
        await cli(env, "migrate")
        with RunnerLock.acquire(path_of(db_url), "killreport run"):
            done = await cli(env, "killmails", "backfill", "--from", _iso(day), timeout_s=60)
        stats = await sim.control.stats()
    assert done.code == 1, done.err
    assert "`killreport run` holds the file" in done.err and "5 kills need ESI" in done.err
    assert "needs esi" in done.out and _killmail_answers(stats) == {}
    assert await _count(engine) == 0


async def test_bad_dates_are_usage_errors(db_url: str) -> None:
    env = embedded_env(db_url, "http://127.0.0.1:1")
    for args, said in ((("--from", "2026-13-01"), "not a date written YYYY-MM-DD"),
                       (("--from", "2026-12-05", "--to", "2026-12-01"), "is before --from"),
                       (("--from", "20261201"), "YYYY-MM-DD"),
                       (("--from", "2026-12-01", "--batch", "0"), "--batch")):
        done = await cli_here(env, "killmails", "backfill", *args)
        assert done.code == 2 and said in done.err and len(done.err.strip().splitlines()) == 1, done.err


async def test_today_is_not_over_and_nothing_is_asked_for_it(db_url: str) -> None:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    async with running_sim(alliances=5) as sim:
        env = embedded_env(db_url, sim.base_url, R2Z2_URL=sim.r2z2_url)
        done = await cli_here(env, "killmails", "backfill", "--from", today)
        stats = await sim.control.stats()
    assert done.code == 1 and "not over yet" in done.err and "not over" in done.out
    assert stats["r2z2"]["requests"] == 0


async def test_an_unreachable_feed_esi_or_database_is_one_line_and_exit_1(
        db_url: str, tmp_path: Path) -> None:
    async with running_sim(alliances=5, clock=a_day_ago(), r2z2_today=True, kill_late_share=0) as sim, \
            fronted(sim) as (front, url):
        await sim.control.publish_kills(2, late=False)
        day = _iso(day_of(sim.sim.clock()))
        no_feed = await cli_here(embedded_env(db_url, sim.base_url, R2Z2_URL="http://127.0.0.1:1/r2z2"),
                                 "killmails", "backfill", "--from", day)
        front.answers[f"/history/raw/{day.replace('-', '')}.json"] = [(404, b"{}", {})]
        no_esi = await cli(embedded_env(db_url, "http://127.0.0.1:1", R2Z2_URL=url),
                           "killmails", "backfill", "--from", day, timeout_s=60)
    no_db = await cli_here(embedded_env(f"sqlite:///{tmp_path}/no/such/dir/k.db", "http://127.0.0.1:1"),
                           "killmails", "backfill", "--from", day)
    assert no_feed.code == 1 and "R2Z2 cannot be used" in no_feed.err and "127.0.0.1:1" in no_feed.err
    assert no_esi.code == 1 and "killreport: error:" in no_esi.err, no_esi.err
    assert no_db.code == 1 and "killreport: error:" in no_db.err, no_db.err
    for done in (no_feed, no_db):
        assert len([line for line in done.err.splitlines() if line.startswith("killreport:")]) == 1
