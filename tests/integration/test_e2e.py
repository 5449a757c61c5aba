"""The whole system as users run it: real PostgreSQL, real RabbitMQ, worker processes, the simulator."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.sim.testing import RunningSim, running_sim
from tests.cluster import cli, env_for, workers
from tests.truth import diff_against_truth

pytestmark = pytest.mark.timeout(300)


def requests_of(stats: dict[str, Any]) -> int:
    return int(stats["requests"])


async def sync_all(env: dict[str, str], timeout_s: float = 240) -> str:
    done = await cli(env, "sync-all", "--wait", timeout_s=timeout_s)
    assert done.code == 0, done.err[-3000:]
    return done.out


async def test_sync_all_stores_exactly_the_truth_and_a_second_run_requests_nothing(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    async with running_sim(alliances=60, latency_ms=5, jitter_ms=5) as sim:
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url)
        async with workers(env, 2):
            summary = await sync_all(env)
            assert "stored alliances" in summary
            truth = await sim.control.truth()
            assert await diff_against_truth(engine, truth) == []
            assert truth["deleted_characters"], "the universe should hold deleted characters"
            first = await sim.control.stats()
            assert first["limit_violations"]["total"] == 0
            assert first["cache_violations"]["total"] == 0
            assert set(first["compatibility_dates"]) == {"2026-08-18"}
            assert all("tests@killreport.invalid" in ua for ua in first["user_agents"])

            await sync_all(env)
            again = await sim.control.stats()
            assert requests_of(again) == requests_of(first), "a fresh entity was requested again"
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT count(*) FROM changes"))).scalar_one() == 0


async def test_many_workers_small_error_budget_high_error_rate_never_get_a_420(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    async with running_sim(alliances=25, latency_ms=5, error_rate=0.15, error_budget=30,
                           error_window_s=4) as sim:
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, MAX_ATTEMPTS="12",
                      ESI_MAX_INFLIGHT="16")
        async with workers(env, 3):
            await sync_all(env)
        stats = await sim.control.stats()
        assert stats["limit_violations"]["420"] == 0
        assert stats["cache_violations"]["total"] == 0, stats["cache_violations"]
        by_status: dict[str, int] = {}
        for route in stats["by_route"].values():
            for code, n in route.items():
                by_status[code] = by_status.get(code, 0) + n
        assert sum(n for code, n in by_status.items() if code.startswith("5")) > 20, by_status
        assert await diff_against_truth(engine, await sim.control.truth()) == []


async def test_hostile_strings_and_no_executor_round_trip(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    sim: RunningSim
    async with running_sim(alliances=100) as sim:
        truth = await sim.control.truth()
        hostile = [c for c in truth["corporations"].values()
                   if any(ch in c["name"] + c["description"] for ch in "'\"\\<\t\n🚀漢")]
        no_exec = [a for a in truth["alliances"].values() if "executor_corporation_id" not in a]
        assert hostile and no_exec, "the universe lacks the awkward cases this test is about"
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url)
        async with workers(env, 1):
            await sync_all(env)
        assert await diff_against_truth(engine, truth) == []
