"""The simulator's daily downtime falls inside a sync: the sync pauses while it is down, then completes.

The simulator's schedule is moved to a few seconds after the test starts (`daily_downtime_at_s`), so
the downtime falls inside the run on the real clock. The client's own rule stays at 11:00 UTC and
is off here (ESI_DAILY_DOWNTIME=false, as in every test: a run at 10:59:30 must not wait for an
11:00 that this simulator does not keep), so the client learns of the downtime from its answers:
the requests already on their way when it began answer 503, and then only /status goes out until
it shows ESI back. tests/embedded/test_daily_downtime_clock.py shows the client's 10:59:30 rule
and the simulator's 11:00 on one clock, with nothing but /status sent while it is down.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.runner_lock import holder
from killreport.sim.testing import running_sim
from killreport.store.sqlite.engine import path_of
from tests.cluster import Worker, cli, command, embedded_env
from tests.truth import diff_against_truth

pytestmark = pytest.mark.timeout(180)
DOWN_S = 4.0
# The downtime begins this long after the simulator starts, once the sync has fetched the alliance
# list; a few requests in flight at a time make the sync outlast it (about 8 s of work).
AFTER_S = 3.0
IN_FLIGHT = 4
STATUS = "GET /status"


async def held(db_url: str) -> None:
    """Wait until the runner holds the file (it needs a moment to start and take the lock)."""
    for _ in range(300):
        if holder(path_of(db_url)) is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no runner took {db_url} within 30 s")


def seconds_into_the_day(at: float) -> float:
    """Seconds into the UTC day of the epoch instant `at`."""
    return at % 86400


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def runner(env: dict[str, str], db_url: str, use_run: bool) -> AsyncIterator[Worker | None]:
    """`killreport run` holding the file for the block when `use_run`, else nothing (sync-all --wait
    then works alone)."""
    started: AbstractAsyncContextManager[Worker | None] = command(env, "run") if use_run else nullcontext()
    async with started as worker:
        if use_run:
            await held(db_url)
        yield worker


def game_routes(during: dict[str, Any]) -> dict[str, int]:
    """Requests that arrived while ESI was down, /status left out."""
    return {route: n for route, n in during.items() if route != STATUS}


@pytest.mark.parametrize("use_run", [False, True], ids=["sync-all-alone", "killreport-run"])
async def test_a_sync_pauses_while_the_simulator_is_down_and_completes(
        db_url: str, engine: AsyncEngine, use_run: bool) -> None:
    port = free_port()
    env = embedded_env(db_url, f"http://127.0.0.1:{port}", ESI_MAX_INFLIGHT=str(IN_FLIGHT))
    async with runner(env, db_url, use_run) as worker:
        at = seconds_into_the_day(time.time() + AFTER_S)
        async with running_sim(port=port, alliances=40, latency_ms=50, jitter_ms=20,
                               daily_downtime_s=DOWN_S, daily_downtime_at_s=at) as sim:
            done = await cli(env, "sync-all", "--wait", timeout_s=150)
            log = worker.read_log() if worker else ""
            assert done.code == 0, done.err[-3000:] + log[-3000:]
            assert await diff_against_truth(engine, await sim.control.truth()) == []
            stats = await sim.control.stats()
            downtime = (await sim.control.faults())["downtime"]
    assert downtime["windows"] == 1 and not downtime["active"], downtime
    assert stats["limit_violations"]["total"] == 0 and stats["cache_violations"]["total"] == 0, stats
    during = stats["during_downtime"]
    assert during.get(STATUS, 0) >= 1, during  # asked whether ESI was back, while it was not
    # Besides /status, only what was on its way before the first downtime answer reached the client:
    # at most one request per lease, each answered 503 (the 503s a downtime costs, README).
    others = game_routes(during)
    assert sum(others.values()) <= IN_FLIGHT, others
    assert all(stats["by_route"][route].get("503", 0) >= n for route, n in others.items()), stats
    said = done.err + log
    assert "ESI is down" in said and "ESI is back" in said, said[-3000:]
