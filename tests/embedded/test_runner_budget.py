"""RunnerBudget: the rules in the runner's memory, its State written to the file for `status` and the
next runner (what ESI sees never depends on a restart)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.budget.memory import MemoryBudget
from killreport.budget.sqlite import RunnerBudget
from killreport.domain.budget_rules import RULES, Limits
from killreport.domain.observation import Observation
from killreport.esi.classify import observe
from killreport.store.sqlite.budget import STALE_S, budget_snapshot
from killreport.store.sqlite.tables import esi_budget_state
from tests.embedded.sqlite_files import db_file, db_url, engine, migrated_template
from tests.rules import NO_DOWNTIME

__all__ = ["db_file", "db_url", "engine", "migrated_template"]

pytestmark = pytest.mark.timeout(60)


def report(remain: int, reset: int, status: int = 200) -> Observation:
    return observe(status, {"x-esi-error-limit-remain": str(remain), "x-esi-error-limit-reset": str(reset)})


async def _open(db_url: str, **limits: Any) -> RunnerBudget:
    return await RunnerBudget.open(db_url, rules=NO_DOWNTIME, **{"max_inflight": 2, "error_floor": 10,
                                                                   "lease_ttl_s": 20, **limits})


async def test_a_420_pause_and_the_error_window_carry_over_to_the_next_runner(db_url: str) -> None:
    first = await _open(db_url)
    await first.settle(await first.reserve("/x"), report(0, 60, status=420))
    await first.close()
    second = await _open(db_url)
    try:
        snap = await second.snapshot()
        assert snap.pause_reason is not None and snap.paused_until is not None
        assert snap.paused_until.timestamp() > time.time() + 50
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(second.reserve("/x"), 0.3)  # nothing goes out in the pause
    finally:
        await second.close()


async def test_leases_a_killed_runner_left_count_until_their_ttl(db_url: str) -> None:
    killed = await _open(db_url)
    await killed.settle(await killed.reserve("/x"), report(100, 60))
    for _ in range(2):
        await killed.reserve("/x")
    await killed.write()  # as its writer would within WRITE_EVERY_S; then it dies holding both
    after = await _open(db_url)
    try:
        assert (await after.snapshot()).in_flight == 2
        with pytest.raises(TimeoutError):  # the cap of 2 is full until those leases expire
            await asyncio.wait_for(after.reserve("/x"), 0.3)
    finally:
        await after.close()
        await killed.close()


async def test_readers_see_what_the_runner_shows_within_a_second(db_url: str, engine: AsyncEngine) -> None:
    at = time.time()  # one instant for both: budget_snapshot's own clock is only compared with TTLs
    memory = MemoryBudget(Limits(max_inflight=8, error_floor=5), clock=lambda: at, rules=NO_DOWNTIME)
    runner = await RunnerBudget.open(db_url, max_inflight=8, error_floor=5, lease_ttl_s=20, rules=NO_DOWNTIME)
    try:
        async with engine.connect() as conn:
            assert await budget_snapshot(conn, RULES, at) == await memory.snapshot()  # no row yet
        tokens = observe(200, {"x-ratelimit-group": "status", "x-ratelimit-limit": "600/15m",
                               "x-ratelimit-remaining": "598"})
        await runner.settle(await runner.reserve("/status"), tokens)
        await runner.settle(await runner.reserve("/x"), report(42, 30, status=503))
        await runner.reserve("/x")
        await asyncio.sleep(1.0)
        async with engine.connect() as conn:
            snap = await budget_snapshot(conn, RULES, at)
        assert snap == await runner.snapshot()
        assert snap.error_limit_remaining == 42 and snap.in_flight == 1
        async with engine.connect() as conn:  # long after the last write: a stopped runner's row
            assert (await budget_snapshot(conn, RULES, at + STALE_S + 1)).in_flight == 0
    finally:
        await runner.close()


async def test_an_unreadable_row_starts_a_fresh_budget(db_url: str, engine: AsyncEngine,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    async with engine.begin() as conn:
        await conn.execute(esi_budget_state.insert().values(id=1, state="{not json", updated_at=0))
    budget = await _open(db_url)
    try:
        assert (await budget.reserve("/x")).probe, "a fresh budget asks one probe first"
    finally:
        await budget.close()
    seen = capsys.readouterr()  # the log goes to stdout or stderr, as logging was set up before
    assert "budget state unreadable; starting afresh" in seen.out + seen.err


async def test_open_fails_at_once_on_a_file_without_the_schema(tmp_path: Any) -> None:
    with pytest.raises(sqlalchemy.exc.OperationalError, match="no such table: esi_budget_state"):
        await _open(f"sqlite:///{tmp_path / 'empty.db'}")
