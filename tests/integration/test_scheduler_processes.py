"""The scheduler as users run it: real processes, PostgreSQL, RabbitMQ and the simulator over HTTP.

Caches are scaled by 0.001 (an hour is 3.6 s, a day 86.4 s; Expires is rounded up to a whole
second), and the minimum ages with them, so a refresh cycle takes seconds.
"""

from __future__ import annotations

import asyncio
import math
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.config import Settings
from killreport.scheduler.context import Scheduling
from killreport.scheduler.sweep import sweep_if_due
from killreport.services import database
from killreport.sim.testing import RunningSim, running_sim
from killreport.store import changes, schedule
from killreport.store import tables as t
from killreport.wiring import broker, esi_client
from tests.cluster import cli, env_for, workers
from tests.truth import diff_against_truth

pytestmark = pytest.mark.timeout(240)

SCALE = 0.001
SCALED = {"REFRESH_MIN_AGE_ALLIANCE": "3.6", "REFRESH_MIN_AGE_CORPORATION": "3.6",
          "REFRESH_MIN_AGE_CORPORATION_DORMANT": "3.6",
          "REFRESH_MIN_AGE_CHARACTER": "86.4", "REFRESH_MIN_AGE_AFFILIATION": "3.6"}
# A character's own GET is cached for 86.4 s here, longer than these tests wait: until then only
# the fields an affiliation sweep updates can follow the truth.
_SWEPT = (".corporation_id:", ".alliance_id:")


@asynccontextmanager
async def killreport(env: dict[str, str], *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`killreport ARGS` running (stderr to a file, shown on failure); SIGTERM and a wait at the end."""
    with tempfile.TemporaryDirectory(prefix="kr-sched-") as folder:
        log_path = Path(folder) / "stderr.log"
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "killreport", *args, env=env, stdout=asyncio.subprocess.DEVNULL,
                stderr=log)
        try:
            yield proc
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            sys.stderr.write(f"--- killreport {' '.join(args)} (pid {proc.pid}) ---\n"
                             + log_path.read_text(errors="replace")[-4000:])


async def eventually(check: Callable[[], Awaitable[list[str]]], timeout_s: float, what: str) -> None:
    """Poll `check` until it finds no problem."""
    deadline = time.monotonic() + timeout_s
    problems: list[str] = []
    while time.monotonic() < deadline:
        problems = await check()
        if not problems:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what} not reached in {timeout_s} s: {problems[:10]}")


def converged(engine: AsyncEngine, sim: RunningSim) -> Callable[[], Awaitable[list[str]]]:
    """The copy equals the truth, apart from what is kept on purpose (closed alliances, corporations
    that left every alliance) and character fields no sweep updates (their GET waits a day)."""
    async def check() -> list[str]:
        found = await diff_against_truth(engine, await sim.control.truth())
        return [p for p in found if not p.endswith("not in truth") and not p.startswith("tombstones")
                and (not p.startswith("characters ") or p.endswith("missing") or any(f in p for f in _SWEPT))]
    return check


async def leader_of(engine: AsyncEngine) -> schedule.Leader | None:
    async with engine.connect() as conn:
        return await schedule.leader(conn)


def holder_pid(lead: schedule.Leader | None) -> int | None:
    return int(lead.holder.rsplit(":", 1)[1]) if lead is not None and lead.locked else None


async def test_two_schedulers_the_survivor_of_a_sigkill_takes_over_within_seconds(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    async with running_sim(alliances=8, cache_scale=SCALE) as sim:
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, LOG_LEVEL="INFO", **SCALED)
        async with workers(env, 1), killreport(env, "scheduler") as one, killreport(env, "scheduler") as two:
            await eventually(converged(engine, sim), 60, "the first sync")
            first = holder_pid(await leader_of(engine))
            assert first in (one.pid, two.pid)
            dead, survivor = (one, two) if first == one.pid else (two, one)
            dead.kill()
            killed = time.monotonic()
            while holder_pid(await leader_of(engine)) != survivor.pid:
                assert time.monotonic() - killed < 10, "no takeover"
                await asyncio.sleep(0.05)
            takeover_s = time.monotonic() - killed
            print(f"takeover after SIGKILL: {takeover_s:.2f} s")
            assert takeover_s < 5

            for kind, count in (("disband_alliance", 1), ("found_alliance", 1), ("hop", 2), ("executor", 1),
                                ("move_character", 2)):
                await sim.control.mutate(count, [kind])
            await eventually(converged(engine, sim), 60, "the copy following the changes")
            stats = await sim.control.stats()
            assert survivor.returncode is None
    assert await dead.wait() == -signal.SIGKILL and survivor.returncode == 0
    assert stats["cache_violations"]["total"] == 0, "a refresh queued twice would show as an early GET"
    assert stats["affiliation_early_ids"] == 0, "the new leader kept the old one's sweep rhythm"
    assert stats["limit_violations"]["total"] == 0
    async with engine.connect() as conn:
        closed = (await conn.execute(
            select(func.count()).where(t.alliances.c.closed_at.isnot(None)))).scalar()
    assert closed == 1, "the disbanded alliance is kept, marked closed"


async def test_killreport_run_syncs_refreshes_and_exits_0_on_sigterm(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    async with running_sim(alliances=5, cache_scale=SCALE) as sim:
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, **SCALED)
        async with killreport(env, "run") as proc:
            await eventually(converged(engine, sim), 60, "the first sync")
            log = await sim.control.mutate(4, ["members", "executor", "hop"])
            await eventually(converged(engine, sim), 30, "the refreshed copy")
            async with engine.connect() as conn:
                seen = {(o.change.kind, o.change.entity_id) for o in await changes.recent(conn)}
            changed = {(f["entity"], f["id"]) for c in log["changes"] for f in c["fields"]
                       if f["entity"] in ("alliance", "corporation")}
            assert changed, log
            assert changed <= seen, "every entity the game changed has its change recorded"
            proc.send_signal(signal.SIGTERM)
            stopping = time.monotonic()
            assert await asyncio.wait_for(proc.wait(), 30) == 0
            assert time.monotonic() - stopping < 15
        stats = await sim.control.stats()
    assert stats["cache_violations"]["total"] == 0
    assert stats["by_route"]["GET /alliances"]["200"] >= 1


async def test_an_affiliation_sweep_over_the_simulator(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    async with running_sim(alliances=12, cache_scale=SCALE) as sim:
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, **SCALED)
        async with workers(env, 1):
            assert (await cli(env, "sync-all", "--wait")).code == 0
        settings = Settings(database_url=fresh_pg_url, rabbitmq_url=fresh_rabbit_url,
                            esi_base_url=sim.base_url, esi_contact="tests@killreport.invalid",
                            refresh_min_age_affiliation=3.6, retry_delays_s=(1, 2, 3))
        moves = await sim.control.mutate(4, ["move_character", "hop"])
        truth = await sim.control.truth()
        async with engine.begin() as conn:
            characters = (await conn.execute(select(func.count()).select_from(t.characters))).scalar_one()
            # A character the copy has in the wrong place, whose real corporation and alliance it
            # lacks: the sweep moves it back and queues both.
            cid, body = next((int(i), b) for i, b in sorted(truth["characters"].items())
                             if b.get("alliance_id"))
            real = (body["corporation_id"], body["alliance_id"])
            await conn.execute(text("UPDATE characters SET corporation_id = 98999999, alliance_id = NULL"
                                    " WHERE id = :id"), {"id": cid})
            await conn.execute(text("DELETE FROM corporations WHERE id = :id"), {"id": real[0]})
            await conn.execute(text("DELETE FROM alliances WHERE id = :id"), {"id": real[1]})
        await sim.control.reset_stats()

        async with database(settings, wait=False) as eng, broker(settings) as mq, esi_client(settings) as esi:
            ctx = Scheduling(eng, mq, esi.client, settings)
            assert await sweep_if_due(ctx) is not None
            after_one = await sim.control.stats()
            assert await sweep_if_due(ctx) is None, "not before the answers' Expires"
            await asyncio.sleep(4.7)
            assert await sweep_if_due(ctx) is not None
            async with eng.connect() as conn:
                rows = await conn.execute(text("SELECT kind, id FROM sync_pending"))
                pending_now = {(r.kind, r.id) for r in rows}
        stats = await sim.control.stats()

    calls = math.ceil(characters / 1000)
    assert after_one["by_route"] == {"POST /characters/affiliation": {"200": calls}}, "ceil(n/1000), no GET"
    assert stats["by_route"]["POST /characters/affiliation"]["200"] == 2 * calls
    assert stats["affiliation_early_ids"] == 0
    assert {("corporation", real[0]), ("alliance", real[1])} <= pending_now
    async with engine.connect() as conn:
        stored = {r.id: (r.corporation_id, r.alliance_id) for r in await conn.execute(
            select(t.characters.c.id, t.characters.c.corporation_id, t.characters.c.alliance_id))}
        recorded = {o.change.entity_id for o in await changes.recent(conn, kind="character")}
    for character_id, place in stored.items():
        want = truth["characters"].get(str(character_id))
        if want is not None:
            assert place == (want["corporation_id"], want.get("alliance_id")), character_id
    moved = {f["id"] for c in moves["changes"] for f in c["fields"]
             if f["entity"] == "character" and f["field"] in ("corporation_id", "alliance_id")}
    assert (moved & set(stored)) | {cid} <= recorded
