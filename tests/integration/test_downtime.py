"""A downtime opened mid-refresh, end to end: `killreport run` against the simulator.

The simulator answers 503 "The datasource tranquility is temporarily unavailable" on every route
and 502 on /status while the window is open, then /status 200 with the new start_time, staff only
(`vip`) for a while, then open to all. /status is in its token-bucket group as on ESI (no error-limit
headers; a 5xx costs no tokens). Every request is timed inside the simulator (white box), so the test
can tell what arrived when, and what was in flight at the instant the window opened and at the
instant the first "unavailable" answer left.

Requests sent between those two instants could not be helped: nothing had told the budget yet. So
the bound is: the errors a downtime costs are the requests in flight when its first answer came
back (at most ESI_MAX_INFLIGHT), and after that answer only /status goes out until ESI is back.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.domain.budget import DOWNTIME
from killreport.domain.budget_rules import WITHOUT_DOWNTIME
from killreport.sim.options import parse_bucket
from killreport.sim.testing import RunningSim, running_sim
from killreport.store.budget import read_snapshot
from tests.cluster import env_for
from tests.truth import until_equal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCALE = 0.002  # alliances and corporations 7.2 s: the copy is refreshed all the time
MAX_INFLIGHT = 16
DOWN_S, VIP_S = 6.0, 2.0
STATUS = "GET /status"
# A request granted just before the first "unavailable" answer was settled may reach the simulator
# a moment after that answer left it: it was in flight, as far as the budget could know.
GRACE_S = 0.5


@dataclass
class Served:
    """One request as the simulator saw it (time.time())."""

    arrived: float
    answered: float
    route: str
    status: int


@dataclass
class Recorder:
    """Every request's arrival and answer, and the instant a downtime window opened."""

    served: list[Served] = field(default_factory=list)
    opened_at: float = 0.0
    in_flight_at_open: int = -1
    first_unavailable_at: float = 0.0
    in_flight_at_first_unavailable: int = -1  # counting the request answered


@contextmanager
def recording(sim: RunningSim) -> Iterator[Recorder]:
    """Wrap the simulator's stats and downtime (same event loop: each wrapper runs atomically)."""
    rec, stats, downtime = Recorder(), sim.sim.stats, sim.sim.downtime
    arrivals: dict[asyncio.Task[Any] | None, float] = {}
    started, finished, begin = stats.started, stats.finished, downtime.begin

    def on_start(user_agent: str | None, compat: str | None) -> None:
        arrivals[asyncio.current_task()] = time.time()
        started(user_agent, compat)

    def on_finish(route_key: str, status: int) -> None:
        arrived, now = arrivals.pop(asyncio.current_task(), 0.0), time.time()
        rec.served.append(Served(arrived, now, route_key, status))
        if status == 503 and rec.opened_at and not rec.first_unavailable_at:
            rec.first_unavailable_at, rec.in_flight_at_first_unavailable = now, stats.in_flight
        finished(route_key, status)

    def on_begin(seconds: float, vip_seconds: float = 0.0) -> None:
        rec.opened_at, rec.in_flight_at_open = time.time(), stats.in_flight
        begin(seconds, vip_seconds)

    stats.started, stats.finished, downtime.begin = on_start, on_finish, on_begin  # type: ignore[method-assign]
    try:
        yield rec
    finally:
        stats.started, stats.finished, downtime.begin = started, finished, begin  # type: ignore[method-assign]


async def busy(sim: RunningSim, at_least: int, within_s: float) -> None:
    """Wait until `at_least` requests are in flight at the simulator (or `within_s` passed)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if sim.sim.stats.in_flight >= at_least:
            return
        await asyncio.sleep(0.002)


async def test_a_downtime_costs_only_the_requests_in_flight_and_everything_resumes(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    async with running_sim(alliances=10, seed=5, cache_scale=SCALE, latency_ms=40, jitter_ms=60,
                           buckets=(parse_bucket("status:/status=600/15m"),)) as sim:
        refresh = str(3600 * SCALE)
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, ESI_MAX_INFLIGHT=str(MAX_INFLIGHT),
                      REFRESH_MIN_AGE_ALLIANCE=refresh, REFRESH_MIN_AGE_CORPORATION=refresh,
                      REFRESH_MIN_AGE_CORPORATION_DORMANT=refresh,
                      REFRESH_MIN_AGE_AFFILIATION=refresh, REFRESH_MIN_AGE_CHARACTER=str(86400 * SCALE))
        run = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "killreport", "run", env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)
        try:
            await until_equal(engine, sim, within_s=120)
            with recording(sim) as rec:
                await busy(sim, at_least=4, within_s=20)
                await sim.control.downtime(DOWN_S, vip_seconds=VIP_S)
                await asyncio.sleep(DOWN_S / 2)
                await shows_downtime(fresh_pg_url)
                changed = await sim.control.mutate(3, kinds=["members", "executor"])
                assert changed["changes"], "nothing changed: resuming would prove nothing"
                await asyncio.sleep(DOWN_S / 2 + VIP_S)
                took = await until_equal(engine, sim, within_s=60)
            facts = judged(rec)
            print(f"downtime: {facts} copy equal {took:.1f} s after the window and VIP ended")
        finally:
            run.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(run.wait(), 60)
        assert code == 0
        stats = await sim.control.stats()
        assert stats["limit_violations"] == {"420": 0, "429": 0, "total": 0}, stats["limit_violations"]
        assert stats["cache_violations"]["total"] == 0, stats["cache_violations"]


async def shows_downtime(pg_url: str) -> None:
    """`killreport status` reads the budget through read_snapshot: it says downtime."""
    conn = await asyncpg.connect(pg_url)
    try:
        snap = await read_snapshot(conn, WITHOUT_DOWNTIME)  # the processes' rules (tests.cluster)
    finally:
        await conn.close()
    assert snap.downtime and snap.pause_reason == DOWNTIME, snap


def judged(rec: Recorder) -> dict[str, Any]:
    """The assertions on what the simulator served around the window; the numbers, to report."""
    opened, closed, first = rec.opened_at, rec.opened_at + DOWN_S, rec.first_unavailable_at
    assert opened and first, "no request was in flight: the test saw nothing of the budget"
    others = [s for s in rec.served if s.route != STATUS]
    errors = [s for s in others if opened <= s.answered < closed and s.status >= 400]
    late = [s for s in others if s.arrived >= opened]
    # Granted before the first "unavailable" answer was settled, arriving just after it left.
    straggling = [s for s in late if first <= s.arrived < first + GRACE_S]
    during = [s for s in late if first + GRACE_S <= s.arrived < closed + VIP_S]
    assert during == [], f"requests other than /status while ESI was down: {during[:5]}"
    assert len(errors) <= rec.in_flight_at_first_unavailable + len(straggling)
    assert rec.in_flight_at_first_unavailable <= MAX_INFLIGHT
    statuses = [s for s in rec.served if s.route == STATUS]
    assert statuses and all(s.arrived >= opened for s in statuses), "/status asked while ESI was up"
    resumed = [s.arrived for s in late if s.arrived >= closed + VIP_S]
    assert resumed, "nothing was requested after the downtime"
    return {"in_flight_at_open": rec.in_flight_at_open,
            "sent_after_open_before_first_answer": len([s for s in late if s.arrived < first]),
            "in_flight_at_first_unavailable": rec.in_flight_at_first_unavailable,
            "straggling": len(straggling), "errors_in_window": len(errors), "status_requests": len(statuses),
            "resumed_s_after_vip": round(min(resumed) - closed - VIP_S, 2)}
