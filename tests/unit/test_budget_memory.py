"""MemoryBudget: waiters wake on settle, pauses hold, snapshots tell what the rules know."""

from __future__ import annotations

import asyncio
import time

from killreport.budget.memory import MemoryBudget
from killreport.domain.budget_rules import Limits
from killreport.domain.observation import NO_ANSWER
from killreport.esi.classify import observe
from tests.rules import NO_DOWNTIME


def report(remain: int, reset: int, status: int = 200) -> dict[str, str]:
    return {"x-esi-error-limit-remain": str(remain), "x-esi-error-limit-reset": str(reset)}


async def test_a_waiter_wakes_as_soon_as_capacity_is_returned() -> None:
    budget = MemoryBudget(Limits(max_inflight=2, error_floor=0), rules=NO_DOWNTIME)
    probe = await budget.reserve("/x")
    await budget.settle(probe, observe(200, report(100, 60)))
    held = [await budget.reserve("/x"), await budget.reserve("/x")]
    waiter = asyncio.create_task(budget.reserve("/x"))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    t0 = time.monotonic()
    await budget.settle(held[0], observe(200, report(100, 60)))
    await asyncio.wait_for(waiter, 0.5)
    assert time.monotonic() - t0 < 0.2, "the waiter slept instead of being woken"


async def test_snapshot_reports_the_state() -> None:
    budget = MemoryBudget(Limits(max_inflight=8, error_floor=5), rules=NO_DOWNTIME)
    lease = await budget.reserve("/status")
    await budget.settle(lease, observe(200, {"x-ratelimit-group": "status", "x-ratelimit-limit": "600/15m",
                                             "x-ratelimit-remaining": "598"}))
    lease = await budget.reserve("/x")
    await budget.settle(lease, observe(503, report(42, 30)))
    await budget.reserve("/x")
    snap = await budget.snapshot()
    assert snap.error_limit_remaining == 42 and snap.in_flight == 1 and snap.paused_until is None
    assert snap.route_groups == {"/status": "status"}
    assert [(b.group, b.limit, b.window_s, b.remaining) for b in snap.buckets] == [("status", 600, 900, 598)]


async def test_unreported_errors_eat_the_budget_down_to_the_floor() -> None:
    budget = MemoryBudget(Limits(max_inflight=32, error_floor=10), rules=NO_DOWNTIME)
    await budget.settle(await budget.reserve("/x"), observe(200, report(14, 60)))
    for _ in range(3):  # timeouts: ESI counted them, no header told us
        await budget.settle(await budget.reserve("/x"), NO_ANSWER)
    assert budget.state.error_remain == 11
    try:
        await asyncio.wait_for(budget.reserve("/x"), 0.3)
    except TimeoutError:
        pass
    else:
        raise AssertionError("a request went out with the budget at the floor")
