"""`killreport killmails backfill` as a user runs it on a SQLite file: a runner holding the file (no
ESI request from the command), and one clear line for each bad input and each unreachable service.
(Killed and resumed, on both dialects: tests/integration/test_backfill_cli.py.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.runner_lock import RunnerLock
from killreport.sim.feed import day_of
from killreport.sim.testing import running_sim
from killreport.store import tables as t
from killreport.store.sqlite.engine import path_of
from tests.cluster import cli, cli_here, embedded_env
from tests.integration.test_backfill import a_day_ago, fronted


def iso_day(day: str) -> str:
    """R2Z2's YYYYMMDD as the command takes it."""
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"


async def stored_count(engine: AsyncEngine) -> int:
    """Kills stored so far."""
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(t.killmails))).scalar_one())


def killmail_answers(stats: dict[str, object]) -> dict[str, int]:
    """The simulator's answers on the killmail route, by status."""
    by_route = stats["by_route"]
    assert isinstance(by_route, dict)
    out: dict[str, int] = {}
    for route, counts in by_route.items():
        if "killmails" in route:
            for code, n in counts.items():
                out[code] = out.get(code, 0) + n
    return out


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
            done = await cli(env, "killmails", "backfill", "--from", iso_day(day), timeout_s=60)
        stats = await sim.control.stats()
    assert done.code == 1, done.err
    assert "`killreport run` holds the file" in done.err and "5 kills need ESI" in done.err
    assert "needs esi" in done.out and killmail_answers(stats) == {}
    assert await stored_count(engine) == 0


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
        day = iso_day(day_of(sim.sim.clock()))
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
