"""Histories end to end in the distributed mode: `killreport run` on PostgreSQL and RabbitMQ against
the simulator with caches a thousand times shorter than ESI's (the embedded mode's test, in
tests/embedded/test_histories_e2e.py, says what is checked and why)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.cluster import command, env_for
from tests.histories import (
    ALLIANCE_S,
    BUSY_ALLIANCES,
    BUSY_SLOTS,
    CHARACTER_S,
    MUTATIONS,
    check_answers,
    found_and_completed,
    history_requests,
    simulated,
    statuses,
    until_histories_equal,
)
from tests.stores import as_store
from tests.truth import until_equal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


async def test_histories_follow_moves_on_postgresql_and_rabbitmq(engine: AsyncEngine, fresh_pg_url: str,
                                                                 fresh_rabbit_url: str) -> None:
    store = as_store(engine)
    async with simulated(alliances=BUSY_ALLIANCES, history_per_min=300, seed=5) as sim:
        env = _env(fresh_pg_url, fresh_rabbit_url, sim.base_url)
        async with command(env, "run"):
            await until_equal(engine, sim, within_s=150)
            for _ in range(6):
                await sim.control.mutate(4, kinds=MUTATIONS)
                await asyncio.sleep(ALLIANCE_S)
            await until_equal(engine, sim, within_s=150)
            await until_histories_equal(store, sim, within_s=150)
            compared = await check_answers(store, sim, pairs=1000, seed=5)
        stats = await sim.control.stats()
    assert compared >= 2000 and history_requests(stats) > 0
    assert stats["hidden_limit"]["total"] == 0, stats["hidden_limit"]
    assert stats["limit_violations"]["total"] == 0, stats["limit_violations"]
    assert "420" not in statuses(stats), stats["by_route"]
    assert stats["cache_violations"]["total"] == 0, stats["cache_violations"]


@pytest.mark.timeout(900)
async def test_a_lower_hidden_limit_is_found_on_postgresql_and_the_copy_still_completes(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    # As in the embedded mode: about 70 histories, more than the limit lets through in a minute.
    store, started = as_store(engine), time.monotonic()
    async with simulated(alliances=5, history_per_min=60, seed=7) as sim:
        env = _env(fresh_pg_url, fresh_rabbit_url, sim.base_url)
        async with command(env, "run"):
            await found_and_completed(env, store, sim, started)


def _env(pg_url: str, rabbit_url: str, esi_url: str) -> dict[str, str]:
    """Refresh as often as the scaled caches allow; the budget's default caps."""
    return env_for(pg_url, rabbit_url, esi_url, REFRESH_MIN_AGE_ALLIANCE=str(ALLIANCE_S),
                   REFRESH_MIN_AGE_CORPORATION=str(ALLIANCE_S),
                   REFRESH_MIN_AGE_CORPORATION_DORMANT=str(ALLIANCE_S),
                   REFRESH_MIN_AGE_CHARACTER=str(CHARACTER_S),
                   REFRESH_MIN_AGE_AFFILIATION=str(ALLIANCE_S), ESI_MAX_INFLIGHT="16",
                   WORKER_CONCURRENCY=BUSY_SLOTS)
