"""The shared budget in PostgreSQL: floor, probe, in-flight cap, expiry, pauses seen across connections,
and the NOTIFY listener coming back after its connection is lost.

That the SQL decides exactly as the pure rules do is tests/integration/test_budget_agreement.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from killreport.budget.memory import MemoryBudget
from killreport.budget.pg import PgBudget
from killreport.domain.observation import NO_ANSWER, Observation
from killreport.esi.classify import observe
from tests.cluster import migrated
from tests.rules import NO_DOWNTIME

Opener = Callable[..., Awaitable[PgBudget]]


@pytest.fixture
async def open_budget(fresh_pg_url: str) -> AsyncIterator[Opener]:
    await migrated(fresh_pg_url)  # a copy of the migrated template; test_budget_migrations runs them
    opened: list[PgBudget] = []

    async def opener(**kw: Any) -> PgBudget:
        options = {"max_inflight": 32, "error_floor": 10, "lease_ttl_s": 30.0, "rules": NO_DOWNTIME, **kw}
        budget = await PgBudget.open(fresh_pg_url, **options)
        opened.append(budget)
        return budget

    yield opener
    for budget in opened:
        await budget.close()


async def granted_within(budget: PgBudget | MemoryBudget, seconds: float, route: str = "/x") -> bool:
    try:
        await asyncio.wait_for(budget.reserve(route), seconds)
    except TimeoutError:
        return False
    return True


def report(remain: int, reset: int, status: int = 200) -> Observation:
    return observe(status, {"x-esi-error-limit-remain": str(remain),
                            "x-esi-error-limit-reset": str(reset)})


async def test_one_probe_until_a_report_then_the_floor_bounds_requests_in_flight(open_budget: Opener) -> None:
    budget = await open_budget(error_floor=10)
    probe = await budget.reserve("/x")
    assert not await granted_within(budget, 0.3), "a second request went out before any report"
    await budget.settle(probe, report(remain=15, reset=60))
    leases = [await budget.reserve("/x") for _ in range(4)]
    assert not await granted_within(budget, 0.3), "remaining - in flight would have reached the floor"
    await budget.settle(leases[0], report(remain=15, reset=60))
    assert await granted_within(budget, 1.0)


async def test_max_in_flight_is_cluster_wide(open_budget: Opener) -> None:
    first, second = await open_budget(max_inflight=3), await open_budget(max_inflight=3)
    await first.settle(await first.reserve("/x"), report(remain=100, reset=60))
    held = [await first.reserve("/x"), await second.reserve("/x"), await first.reserve("/x")]
    assert not await granted_within(second, 0.3)
    await first.settle(held[0], report(remain=100, reset=60))
    assert await granted_within(second, 1.0)
    assert (await first.snapshot()).in_flight == 3


async def test_a_crashed_holders_lease_expires(open_budget: Opener) -> None:
    crashed = await open_budget(max_inflight=1, lease_ttl_s=0.5)
    await crashed.reserve("/x")  # never settled: the process "died"
    survivor = await open_budget(max_inflight=1)
    assert await granted_within(survivor, 3.0)


async def test_a_420_pauses_every_other_client_within_a_second(open_budget: Opener) -> None:
    seer, other = await open_budget(), await open_budget()
    await seer.settle(await seer.reserve("/x"), report(remain=100, reset=60))
    lease = await seer.reserve("/x")
    t0 = time.monotonic()
    await seer.settle(lease, report(remain=0, reset=2, status=420))
    assert not await granted_within(other, 1.0), "another client was let through during a 420 pause"
    assert await granted_within(other, 3.0)
    assert time.monotonic() - t0 >= 1.9
    snap = await other.snapshot()
    assert snap.pause_reason == "error limit (420)"


async def test_token_bucket_group_learned_and_429_pauses_only_that_group(open_budget: Opener) -> None:
    budget = await open_budget()
    await budget.settle(await budget.reserve("/x"), report(remain=100, reset=60))
    lease = await budget.reserve("/status")
    await budget.settle(lease, observe(429, {"x-ratelimit-group": "status", "x-ratelimit-limit": "600/1m",
                                             "x-ratelimit-remaining": "0", "retry-after": "2"}))
    assert not await granted_within(budget, 0.5, "/status")
    assert await granted_within(budget, 0.5, "/x")
    snap = await budget.snapshot()
    assert snap.route_groups == {"/status": "status"} and snap.buckets[0].limit == 600
    # Past the pause the group's numbers are unknown: one probe at a time until it reports.
    probe = await asyncio.wait_for(budget.reserve("/status"), 3.0)
    assert probe.group == "status"
    assert not await granted_within(budget, 0.3, "/status")


async def test_no_answer_counts_as_an_error_and_returns_the_lease(open_budget: Opener) -> None:
    budget = await open_budget(max_inflight=1)
    await budget.settle(await budget.reserve("/x"), report(remain=50, reset=60))
    await budget.settle(await budget.reserve("/x"), NO_ANSWER)
    assert await granted_within(budget, 1.0)
    assert (await budget.snapshot()).error_limit_remaining == 49


LISTENERS = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
             " AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")


async def listener_pids(admin: asyncpg.Connection) -> set[int]:
    return {row["pid"] for row in await admin.fetch(LISTENERS)}


async def new_listener(admin: asyncpg.Connection, old: set[int], within: float) -> set[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        pids = await listener_pids(admin)
        if pids and not pids & old:
            return pids
        await asyncio.sleep(0.05)
    raise AssertionError(f"no new listener within {within} s")


async def woken_within(budget: PgBudget, seconds: float) -> float:
    """Hold the only slot, start a waiter, settle: how long the waiter took to get its lease."""
    held = await budget.reserve("/x")
    waiter = asyncio.create_task(budget.reserve("/x"))
    await asyncio.sleep(0.3)
    assert not waiter.done()
    t0 = time.monotonic()
    await budget.settle(held, report(remain=100, reset=60))
    await budget.settle(await asyncio.wait_for(waiter, seconds), report(remain=100, reset=60))
    return time.monotonic() - t0


async def test_the_listener_comes_back_after_its_backend_is_terminated(
        open_budget: Opener, fresh_pg_url: str) -> None:
    # Waiters would poll only every 10 s: being woken sooner proves the NOTIFY got through.
    budget = await open_budget(max_inflight=1, rules=dataclasses.replace(NO_DOWNTIME, poll_s=10.0))
    await budget.settle(await budget.reserve("/x"), report(remain=100, reset=60))
    assert await woken_within(budget, 2.0) < 1.0
    admin = await asyncpg.connect(fresh_pg_url)
    try:
        old = await listener_pids(admin)
        assert len(old) == 1
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1",
                            next(iter(old)))
        # Reserve and settle go through the pool and never notice the listener is gone.
        await budget.settle(await budget.reserve("/x"), report(remain=100, reset=60))
        await new_listener(admin, old, within=5.0)
    finally:
        await admin.close()
    assert await woken_within(budget, 2.0) < 1.0, "the waiter slept to the poll: no NOTIFY reached it"


async def test_the_listener_keeps_trying_while_the_database_refuses(
        open_budget: Opener, fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    budget = await open_budget(max_inflight=1, rules=dataclasses.replace(NO_DOWNTIME, poll_s=10.0))
    await budget.settle(await budget.reserve("/x"), report(remain=100, reset=60))
    real_connect = asyncpg.connect
    refusals = 3

    async def flaky_connect(*args: Any, **kw: Any) -> asyncpg.Connection:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise ConnectionRefusedError("the database is restarting")
        return await real_connect(*args, **kw)

    admin = await asyncpg.connect(fresh_pg_url)
    monkeypatch.setattr(asyncpg, "connect", flaky_connect)  # the package attribute the listener calls
    try:
        old = await listener_pids(admin)
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1",
                            next(iter(old)))
        await new_listener(admin, old, within=5.0)
    finally:
        await admin.close()
    assert refusals == 0
    assert await woken_within(budget, 2.0) < 1.0
