"""Child processes for the budget's cross-process tests, on either store's budget (by the URL)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from killreport.budget.pg import PgBudget
from killreport.budget.sqlite import SqliteBudget
from killreport.esi.classify import NO_ANSWER, Observation, observe
from tests.rules import NO_DOWNTIME


async def _open(db: str, **limits: Any) -> PgBudget | SqliteBudget:
    """The budget a process of that mode opens: the SQLite file's row, or PostgreSQL's tables."""
    kind = SqliteBudget if db.startswith("sqlite:///") else PgBudget
    return await kind.open(db, rules=NO_DOWNTIME, **limits)


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
