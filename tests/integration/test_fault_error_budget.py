"""Another program on the same IP spends the error budget while the workers sync: they stop at the
floor, wait for the window's reset, none of their requests gets a 420, and nothing is lost."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.sim.testing import RunningSim, running_sim
from tests.cluster import Done, cli, env_for, workers
from tests.truth import diff_against_truth

pytestmark = pytest.mark.timeout(120)

IP: Final = "127.0.0.1"  # the workers', and the other program's: the simulator sees one client
# A 15 s window instead of ESI's 60 s keeps the test short; the mechanics are the same.
WINDOW_S: Final = 15
BUDGET: Final = 100
# Why 20 errors a second is one the workers can absorb: they stop once remain - (in flight + 1) <=
# ESI_ERROR_FLOOR (10), and they learn remain from every response. While busy they get several
# responses in each 50 ms the other program needs for one error, so what they know is at most a
# couple of errors stale, far inside the floor's 10. The budget is then gone 100 / 20 = 5 s after
# the call, well before the window's end, and they must sit out the rest of the window without a
# request, because any request then would get a 420. A rate of more than about floor / (time
# between responses) could not be absorbed by any client: its knowledge would be older than the
# floor lasts.
RATE: Final = 20.0
DRAINED_S: Final = BUDGET / RATE
BUSY_REQUESTS: Final = 100  # spend only once the workers are well into the cascade


@dataclass(frozen=True, slots=True)
class Sample:
    """The simulator's request count at one moment (event-loop seconds)."""

    at: float
    requests: int


async def _now() -> float:
    return asyncio.get_running_loop().time()


async def _wait_until_busy(sim: RunningSim, syncing: asyncio.Task[Done]) -> None:
    while (await sim.control.stats())["requests"] < BUSY_REQUESTS:
        assert not syncing.done(), "the sync ended before it was busy"
        await asyncio.sleep(0.05)


async def _sample_until_done(sim: RunningSim, syncing: asyncio.Task[Done]) -> list[Sample]:
    samples = []
    while not syncing.done():
        samples.append(Sample(await _now(), (await sim.control.stats())["requests"]))
        await asyncio.sleep(0.1)
    return samples


def _quiet(samples: list[Sample], start: float, end: float) -> tuple[Sample, Sample]:
    """The first and the last sample within [start, end]."""
    inside = [s for s in samples if start <= s.at <= end]
    assert len(inside) >= 2, f"no samples between {start:.1f} and {end:.1f}"
    return inside[0], inside[-1]


async def test_another_program_spending_the_budget_pauses_workers_without_a_420(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    async with running_sim(alliances=150, latency_ms=30, jitter_ms=30, error_window_s=WINDOW_S,
                           error_budget=BUDGET) as sim:
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url)
        async with workers(env, 2):
            syncing = asyncio.create_task(cli(env, "sync-all", "--wait", timeout_s=100))
            await _wait_until_busy(sim, syncing)
            called = await _now()
            spent = await sim.control.spend_error_budget(rate=RATE)
            answered = await _now()
            samples = await _sample_until_done(sim, syncing)
            done, done_at = await syncing, await _now()
        assert done.code == 0, done.err[-3000:]
        stats = await sim.control.stats()
        # The window ends within a second before called + reset_s (reset_s is rounded up); the other
        # program has spent the budget by answered + DRAINED_S, whatever the workers' own errors did.
        assert spent["remain"] > 0 and spent["reset_s"] >= DRAINED_S + 3, spent
        spent_by = answered + DRAINED_S
        window_open_until = called + spent["reset_s"] - 1
        assert stats["limit_violations"]["420"] == 0, stats["limit_violations"]
        assert sim.sim.errors.windows_spent(IP) >= 1, "the budget never reached 0: nothing was tested"
        first, last = _quiet(samples, spent_by, window_open_until)
        assert first.requests == last.requests, "a request was sent while the budget was spent"
        assert last.at - first.at >= 4, "the quiet period was too short to show a pause"
        assert done_at > window_open_until and stats["requests"] > last.requests, \
            "the sync did not resume after the reset: it ended before the budget ran out"
        assert await diff_against_truth(engine, await sim.control.truth()) == []
