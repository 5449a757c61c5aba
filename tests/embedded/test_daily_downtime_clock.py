"""The client's daily-downtime rule and the simulator's 11:00 on one clock: nothing but /status goes
out while the simulator is down, and requests resume once /status shows a start_time after 11:00.

One clock, the real one shifted to shortly before 11:00 UTC, drives the embedded budget (a real
SQLite file) and the simulator (over HTTP): what `scripts/demo` started at 10:58 meets, in seconds.
libfaketime would shift the whole demo instead, but Debian's 0.9.10 breaks Python 3.11 (a faked
monotonic clock hangs every timed lock wait; leaving it real makes time.sleep fail with EINVAL).
The budget's lead before 11:00 is cut from 30 s to 3 s: the rule is the same, the wait shorter.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from killreport.agent import user_agent
from killreport.budget.sqlite import RunnerBudget
from killreport.domain.budget_rules import RULES, Limits
from killreport.downtime import watch
from killreport.esi.client import EsiClient
from killreport.esi.transport import aiohttp_transport
from killreport.sim.testing import running_sim
from killreport.store.sqlite.engine import open_engine
from tests.embedded.sqlite_files import db_file, db_url, migrated_template

__all__ = ["db_file", "db_url", "migrated_template"]  # fixtures
pytestmark = pytest.mark.timeout(120)
RULES_3S_LEAD = replace(RULES, downtime_lead_s=3.0)
DOWN_S = 3.0
STATUS = "GET /status"


def shifted_to(moment: dt.datetime) -> Callable[[], float]:
    """The real clock, running on from `moment` (epoch seconds)."""
    shift = moment.timestamp() - time.time()
    return lambda: time.time() + shift


def eleven_today() -> dt.datetime:
    """11:00 UTC today."""
    return dt.datetime.now(dt.UTC).replace(hour=11, minute=0, second=0, microsecond=0)


async def test_only_status_goes_out_while_the_simulator_is_down_then_requests_resume(db_url: str) -> None:
    eleven = eleven_today()
    clock = shifted_to(eleven - dt.timedelta(seconds=5))
    budget = RunnerBudget(open_engine(db_url), Limits(max_inflight=4), rules=RULES_3S_LEAD, clock=clock)
    # cache_scale: /status may be asked every 3 s (its Expires), not every 30 s.
    async with running_sim(clock=clock, alliances=30, daily_downtime_s=DOWN_S, cache_scale=0.1) as sim, \
            aiohttp_transport(4, 4 * 1024 * 1024) as transport:
        esi = EsiClient(transport, budget, base_url=sim.base_url, user_agent=user_agent("tests@example.com"),
                        compatibility_date="2026-08-18", timeout_s=10, max_body_bytes=4 * 1024 * 1024)
        watcher = asyncio.create_task(watch(budget, esi, RULES_3S_LEAD))
        corporations = [int(c) for c in (await sim.control.truth())["corporations"]]
        answered_at = []
        try:
            # One at a time, each once (never before its Expires), a few a second, until well after.
            for corporation_id in corporations:
                await esi.corporation(corporation_id)
                answered_at.append(clock())
                if clock() > eleven.timestamp() + DOWN_S + 2:
                    break
                await asyncio.sleep(0.1)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await budget.close()
        stats = await sim.control.stats()
        downtime = (await sim.control.faults())["downtime"]
    assert downtime["windows"] == 1 and downtime["start_time"] == (
        eleven + dt.timedelta(seconds=DOWN_S)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert set(stats["during_downtime"]) == {STATUS}, stats["during_downtime"]  # nothing else
    assert stats["limit_violations"]["total"] == 0 and stats["cache_violations"]["total"] == 0, stats
    # Requests went out before the lead and again after the simulator was back, none in between
    # (half a second allowed for an answer granted just before the lead to come back).
    start = eleven.timestamp()
    assert any(t < start - 3 for t in answered_at) and any(t > start + DOWN_S for t in answered_at)
    assert not any(start - 2.5 < t < start + DOWN_S for t in answered_at), answered_at
