"""PgBudget across OS processes: a fake ESI with a small error window, killed holders, 420 pauses."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from typing import Any

import pytest

from killreport.budget.pg import PgBudget
from killreport.esi.classify import observe
from tests import cluster
from tests.budget_children import FakeEsi, a_killed_holders_lease_expires, fake_esi, no_420_from_processes
from tests.rules import NO_DOWNTIME

__all__ = ["fake_esi"]  # a fixture, used by name

SPAWN = mp.get_context("spawn")


@pytest.fixture
async def migrated(fresh_pg_url: str) -> str:
    # A copy of the migrated template; test_budget_migrations runs the migrations themselves.
    return await cluster.migrated(fresh_pg_url)




def grant_times(db: str, seconds: float, out: Any, granting: Any) -> None:
    """Child: reserve and settle as fast as allowed, reporting when each grant came (`granting` is
    set at the first)."""

    async def run() -> list[float]:
        budget = await PgBudget.open(db, max_inflight=32, error_floor=5, lease_ttl_s=10, rules=NO_DOWNTIME)
        times: list[float] = []
        deadline = time.time() + seconds
        ok = observe(200, {"x-esi-error-limit-remain": "100", "x-esi-error-limit-reset": "59"})
        while time.time() < deadline:
            try:
                lease = await asyncio.wait_for(budget.reserve("/x"), deadline - time.time())
            except TimeoutError:
                break
            times.append(time.time())
            granting.set()
            await budget.settle(lease, ok)
            await asyncio.sleep(0.01)
        await budget.close()
        return times

    out.put(asyncio.run(run()))


async def test_many_processes_at_a_high_error_rate_never_see_a_420(
        migrated: str, fake_esi: tuple[FakeEsi, str]) -> None:
    await no_420_from_processes(migrated, fake_esi, processes=4, tasks=8)


async def test_a_killed_processes_lease_expires(migrated: str) -> None:
    await a_killed_holders_lease_expires(migrated)


async def test_a_420_seen_by_one_process_pauses_another_within_a_second(migrated: str) -> None:
    out, granting = SPAWN.Queue(), SPAWN.Event()
    proc = SPAWN.Process(target=grant_times, args=(migrated, 12.0, out, granting))
    proc.start()
    seer = await PgBudget.open(migrated, max_inflight=32, error_floor=5, lease_ttl_s=10, rules=NO_DOWNTIME)
    try:
        # Once the child grants (a spawned child takes seconds to start on a loaded machine).
        assert await asyncio.to_thread(granting.wait, 30), "the child never got going"
        await asyncio.sleep(0.5)
        lease = await seer.reserve("/x")
        t420 = time.time()
        limited = observe(420, {"x-esi-error-limit-remain": "0", "x-esi-error-limit-reset": "2"})
        await seer.settle(lease, limited)
        times = await asyncio.to_thread(out.get, True, 30)
        await asyncio.to_thread(proc.join, 10)
    finally:
        await seer.close()
    assert any(t < t420 for t in times), "the child never got going"
    during = [t for t in times if t420 + 0.2 < t < t420 + 2.0]
    assert during == [], f"{len(during)} grants during the 420 pause"
    # Past the pause the window ESI named is spent (a 420 says remain 0): one more second of caution,
    # then a probe.
    assert any(t > t420 + 2.0 for t in times), "the pause never ended"
