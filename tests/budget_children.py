"""The budget's cross-process tests on PostgreSQL (the embedded budget has one process: the runner):
a fake ESI with a small error window, the child processes, and the check that many processes never
see a 420."""

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

import aiohttp
import pytest
from aiohttp import web

from killreport.budget.pg import PgBudget
from killreport.domain.observation import NO_ANSWER, Observation
from killreport.esi.classify import observe
from tests.rules import NO_DOWNTIME

SPAWN = mp.get_context("spawn")


async def _open(db: str, **limits: Any) -> PgBudget:
    """The budget a process opens on PostgreSQL's tables."""
    return await PgBudget.open(db, rules=NO_DOWNTIME, **limits)


async def _hammer(db: str, url: str, max_inflight: int, seconds: float, tasks: int) -> int:
    budget = await _open(db, max_inflight=max_inflight, error_floor=5, lease_ttl_s=10)
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:

        async def loop() -> int:
            sent = 0
            while time.monotonic() < deadline:
                lease = await budget.reserve("/x")
                obs: Observation = NO_ANSWER
                try:
                    async with session.get(url) as response:
                        await response.read()
                        obs = observe(response.status, {k.lower(): v for k, v in response.headers.items()})
                finally:
                    await budget.settle(lease, obs)
                sent += 1
            return sent

        counts = await asyncio.gather(*(loop() for _ in range(tasks)))
    await budget.close()
    return sum(counts)


def hammer_process(db: str, url: str, max_inflight: int, seconds: float, tasks: int, out: Any) -> None:
    """Child: reserve/send/settle from `tasks` coroutines for `seconds`."""
    out.put(asyncio.run(_hammer(db, url, max_inflight, seconds, tasks)))


def hold_forever(db: str, ready: Any) -> None:
    """Child: take a lease and never settle it (the parent kills us)."""

    async def run() -> None:
        budget = await _open(db, max_inflight=1, error_floor=0, lease_ttl_s=1.0)
        await budget.reserve("/x")
        ready.set()
        await asyncio.sleep(3600)

    asyncio.run(run())


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



async def no_420_from_processes(db: str, fake_esi: tuple[FakeEsi, str], *, processes: int,
                                tasks: int) -> None:
    """`processes` children hammer the fake ESI through one shared budget: never a 420, never more
    than 12 in flight, and the limit really pressed."""
    esi, url = fake_esi
    out = SPAWN.Queue()
    procs = [SPAWN.Process(target=hammer_process, args=(db, url, 12, 7.0, tasks, out))
             for _ in range(processes)]
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


async def a_killed_holders_lease_expires(db: str) -> None:
    """A child takes the only lease and is SIGKILLed: the lease frees itself, another process goes."""
    ready = SPAWN.Event()
    proc = SPAWN.Process(target=hold_forever, args=(db, ready))
    proc.start()
    assert await asyncio.to_thread(ready.wait, 30)
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    await asyncio.to_thread(proc.join, 10)
    survivor = await _open(db, max_inflight=1, error_floor=0, lease_ttl_s=10)
    try:
        t0 = time.monotonic()
        await asyncio.wait_for(survivor.reserve("/x"), 5.0)
        assert time.monotonic() - t0 < 2.5
    finally:
        await survivor.close()
