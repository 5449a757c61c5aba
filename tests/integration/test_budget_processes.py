"""PgBudget across OS processes: a fake ESI with a small error window, killed holders, 420 pauses."""

from __future__ import annotations

import asyncio
import math
import multiprocessing as mp
import os
import random
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from killreport.budget.pg import PgBudget
from killreport.esi.classify import observe
from killreport.store import migrate
from tests.budget_children import hammer_process, hold_forever
from tests.rules import NO_DOWNTIME

SPAWN = mp.get_context("spawn")


@dataclass
class FakeEsi:
    """ESI's error limit: `budget` errors per fixed window that starts at the first request."""

    window_s: float
    budget: int
    error_rate: float
    window_start: float = -1e9
    errors: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    served: int = 0
    errors_total: int = 0
    limited: int = 0

    async def handle(self, _: web.Request) -> web.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(random.uniform(0.002, 0.02))
            now = time.monotonic()
            if now >= self.window_start + self.window_s:
                self.window_start, self.errors = now, 0
            if self.errors >= self.budget:
                self.limited += 1
                status = 420
            else:
                status = 500 if random.random() < self.error_rate else 200
                self.errors += status >= 400
                self.errors_total += status >= 400
            self.served += 1
            reset = math.ceil(self.window_start + self.window_s - time.monotonic())
            headers = {"X-ESI-Error-Limit-Remain": str(max(self.budget - self.errors, 0)),
                       "X-ESI-Error-Limit-Reset": str(max(reset, 0))}
            return web.json_response({"error": "x"} if status != 200 else [1], status=status, headers=headers)
        finally:
            self.in_flight -= 1


@pytest.fixture
async def migrated(fresh_pg_url: str) -> str:
    await asyncio.to_thread(migrate.upgrade, fresh_pg_url)
    return fresh_pg_url


@pytest.fixture
async def fake_esi() -> AsyncIterator[tuple[FakeEsi, str]]:
    esi = FakeEsi(window_s=3.0, budget=30, error_rate=0.4)
    app = web.Application()
    app.router.add_get("/x", esi.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield esi, f"http://127.0.0.1:{port}/x"
    await runner.cleanup()




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
    esi, url = fake_esi
    out = SPAWN.Queue()
    procs = [SPAWN.Process(target=hammer_process, args=(migrated, url, 12, 7.0, 8, out)) for _ in range(4)]
    for proc in procs:
        proc.start()
    sent = [await asyncio.to_thread(out.get, True, 60) for _ in procs]
    for proc in procs:
        await asyncio.to_thread(proc.join, 10)
    assert all(proc.exitcode == 0 for proc in procs)
    assert esi.limited == 0, f"{esi.limited} requests got a 420"
    assert esi.max_in_flight <= 12
    assert sum(sent) == esi.served
    # Each window's errors were spent down to the floor at least once: the limit was really pressed.
    assert esi.errors_total >= esi.budget, "the test never pressed the limit"


async def test_a_killed_processes_lease_expires(migrated: str) -> None:
    ready = SPAWN.Event()
    proc = SPAWN.Process(target=hold_forever, args=(migrated, ready))
    proc.start()
    assert await asyncio.to_thread(ready.wait, 30)
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    await asyncio.to_thread(proc.join, 10)
    survivor = await PgBudget.open(migrated, max_inflight=1, error_floor=0, lease_ttl_s=10, rules=NO_DOWNTIME)
    try:
        t0 = time.monotonic()
        await asyncio.wait_for(survivor.reserve("/x"), 5.0)
        assert time.monotonic() - t0 < 2.5
    finally:
        await survivor.close()


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
