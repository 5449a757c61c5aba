"""SqliteBudget: the pure rules, persisted in the file, obeyed by every process (and engine) on it."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import random
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.budget.memory import MemoryBudget
from killreport.budget.sqlite import SqliteBudget
from killreport.domain.budget import Lease
from killreport.domain.budget_rules import RULES, Grant, Limits, State, Wait, apply_settle, decide
from killreport.domain.observation import NO_ANSWER, Observation
from killreport.esi.classify import observe
from killreport.store.sqlite.budget import BudgetRow, budget_snapshot
from killreport.store.sqlite.engine import path_of
from killreport.store.sqlite.tables import esi_budget_state
from tests.budget_children import FakeEsi, a_killed_holders_lease_expires, fake_esi, no_420_from_processes
from tests.embedded.sqlite_files import db_file, db_url, engine, migrated_template, other_engine
from tests.rules import NO_DOWNTIME

__all__ = ["db_file", "db_url", "engine", "fake_esi", "migrated_template", "other_engine"]

SPAWN = mp.get_context("spawn")


def report(remain: int, reset: int, status: int = 200) -> Observation:
    return observe(status, {"x-esi-error-limit-remain": str(remain), "x-esi-error-limit-reset": str(reset)})


@pytest.fixture
async def two(db_url: str) -> AsyncIterator[tuple[SqliteBudget, SqliteBudget]]:
    """Two budgets on one file, each with its own connection and thread, as two processes have."""
    limits = Limits(max_inflight=2, error_floor=10, lease_ttl_s=20)
    a, b = SqliteBudget(db_url, limits), SqliteBudget(db_url, limits, rules=NO_DOWNTIME)
    yield a, b
    await a.close()
    await b.close()


Two = tuple[SqliteBudget, SqliteBudget]


async def test_two_budgets_on_one_file_share_the_in_flight_cap(two: Two) -> None:
    a, b = two
    probe = await a.reserve("/x")
    assert probe.probe
    assert isinstance(await b.attempt("/x"), Wait), "a second probe went out before the first answered"
    await a.settle(probe, report(100, 60))
    held = [await a.reserve("/x"), await b.reserve("/x")]
    assert isinstance(await b.attempt("/x"), Wait) and isinstance(await a.attempt("/x"), Wait)
    assert (await b.snapshot()).in_flight == 2
    await a.settle(held[0], report(99, 59))
    assert isinstance(await b.attempt("/x"), Grant)


async def test_two_budgets_on_one_file_share_the_error_limit(two: Two) -> None:
    a, b = two
    await a.settle(await a.reserve("/x"), report(14, 60))
    for _ in range(3):  # timeouts seen by the other one: ESI counted them, no header said so
        await b.settle(await b.reserve("/x"), NO_ANSWER)
    assert (await a.snapshot()).error_limit_remaining == 11
    verdict = await a.attempt("/x")
    assert isinstance(verdict, Wait), "a request went out with the shared budget at the floor"


async def test_a_420_settled_by_one_pauses_the_other(two: Two) -> None:
    a, b = two
    await a.settle(await a.reserve("/x"), report(0, 30, status=420))
    paused = await b.attempt("/x")
    assert isinstance(paused, Wait) and 29 < paused.seconds <= 30
    snap = await b.snapshot()
    assert snap.pause_reason == "error limit (420)" and snap.paused_until is not None


OBSERVATIONS = [
    report(90, 30), report(12, 5, status=500), NO_ANSWER, report(0, 20, status=420),
    observe(429, {"retry-after": "3"}), observe(304, {}),
    observe(200, {"x-ratelimit-group": "g", "x-ratelimit-limit": "150/15m", "x-ratelimit-remaining": "12"}),
    observe(503, {}, b'{"error":"The datasource tranquility is temporarily unavailable"}'),
]


@pytest.mark.parametrize("seed", range(6))
async def test_two_budgets_taking_turns_decide_as_the_pure_rules(db_url: str, seed: int) -> None:
    """Every step through either budget equals the rules run on one State in memory, and so does the row."""
    rng, now = random.Random(seed), [1_700_000_000.0]
    limits = Limits(max_inflight=4, error_floor=3, lease_ttl_s=20)
    sides = [SqliteBudget(db_url, limits, clock=lambda: now[0]) for _ in range(2)]
    row, state, held = BudgetRow(path_of(db_url)), State(), list[Lease]()
    try:
        for _ in range(150):
            side = rng.choice(sides)
            now[0] += rng.choice([0.0, 0.3, 1.0, 7.0, 40.0])
            if held and rng.random() < 0.5:
                lease, obs = held.pop(rng.randrange(len(held))), rng.choice(OBSERVATIONS)
                state, _ = apply_settle(state, now[0], lease.id, lease.route, obs, RULES)
                await side.settle(lease, obs)
            else:
                route = rng.choice(["/x", "/status", "/y"])
                state, expected = decide(state, now[0], route, limits, RULES)
                got = await side.attempt(route)
                assert got == expected
                if isinstance(got, Grant):
                    held.append(Lease(got.lease.id, route, got.lease.group, got.lease.probe))
            assert row.load() == state
    finally:
        row.dispose()
        for side in sides:
            await side.close()


async def test_budget_snapshot_is_what_memory_budget_shows(db_url: str, engine: AsyncEngine) -> None:
    at = time.time()  # one instant for both: budget_snapshot's own clock is only compared with TTLs
    memory = MemoryBudget(Limits(max_inflight=8, error_floor=5), clock=lambda: at, rules=NO_DOWNTIME)
    persisted = SqliteBudget(db_url, Limits(max_inflight=8, error_floor=5), clock=lambda: at,
                             rules=NO_DOWNTIME)
    try:
        async with engine.connect() as conn:
            assert await budget_snapshot(conn, RULES) == await memory.snapshot()  # an empty table
        tokens = observe(200, {"x-ratelimit-group": "status", "x-ratelimit-limit": "600/15m",
                               "x-ratelimit-remaining": "598"})
        for budget in (memory, persisted):
            await budget.settle(await budget.reserve("/status"), tokens)
            await budget.settle(await budget.reserve("/x"), report(42, 30, status=503))
            await budget.reserve("/x")
        async with engine.connect() as conn:
            snap = await budget_snapshot(conn, RULES)
        assert snap == await memory.snapshot() == await persisted.snapshot()
        assert snap.error_limit_remaining == 42 and snap.in_flight == 1
    finally:
        await persisted.close()


async def test_a_waiter_wakes_as_soon_as_capacity_is_returned(db_url: str) -> None:
    budget = SqliteBudget(db_url, Limits(max_inflight=2, error_floor=0), rules=NO_DOWNTIME)
    try:
        await budget.settle(await budget.reserve("/x"), report(100, 60))
        held = [await budget.reserve("/x"), await budget.reserve("/x")]
        waiter = asyncio.create_task(budget.reserve("/x"))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        t0 = time.monotonic()
        await budget.settle(held[0], report(100, 60))
        await asyncio.wait_for(waiter, 0.5)
        assert time.monotonic() - t0 < 0.3, "the waiter slept instead of being woken"
    finally:
        await budget.close()


class CountingBudget(SqliteBudget):
    """Counts the decisions asked for."""

    asked = 0

    async def attempt(self, route: str) -> Grant | Wait:
        self.asked += 1
        return await super().attempt(route)


async def test_waiters_are_woken_in_line_not_all_at_once(db_url: str) -> None:
    budget = CountingBudget(db_url, Limits(max_inflight=2, error_floor=0), rules=NO_DOWNTIME)
    try:
        await budget.settle(await budget.reserve("/x"), report(100, 60))

        async def job() -> None:
            lease = await budget.reserve("/x")
            await asyncio.sleep(0.01)
            await budget.settle(lease, report(100, 60))

        budget.asked, t0 = 0, time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(job() for _ in range(12))), 5)
        # Nobody slept out a poll_s (1 s): each settle woke the next in line.
        assert time.monotonic() - t0 < 0.9
        # Each job asks once, and each settle wakes about two (the next, and the one after if that
        # one was granted): 30 asks. Waking every waiter after each settle asked 42 times.
        assert budget.asked <= 12 + 2 * 12, budget.asked
    finally:
        await budget.close()


async def test_a_cancelled_reserve_gives_its_lease_back(db_url: str) -> None:
    budget = SqliteBudget(db_url, Limits(max_inflight=1, error_floor=0), rules=NO_DOWNTIME)
    try:
        reserving = asyncio.create_task(budget.reserve("/x"))
        await asyncio.sleep(0)  # its transaction is on the budget's thread now
        reserving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reserving
        await asyncio.wait_for(budget.reserve("/x"), 2.0)  # the one slot came back
        assert (await budget.snapshot()).in_flight == 1
    finally:
        await budget.close()


async def test_an_unreadable_row_starts_a_fresh_budget(db_url: str, engine: AsyncEngine,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    async with engine.begin() as conn:
        await conn.execute(esi_budget_state.insert().values(id=1, state="{not json", updated_at=0))
    budget = SqliteBudget(db_url, Limits(), rules=NO_DOWNTIME)
    try:
        lease = await budget.reserve("/x")
        assert lease.probe, "a fresh budget asks one probe first"
        async with engine.begin() as conn:
            await conn.execute(update(esi_budget_state).values(state='{"leases": 3}'))
        assert (await budget.snapshot()).in_flight == 0
    finally:
        await budget.close()
    assert "budget state unreadable; starting afresh" in capsys.readouterr().out


async def test_open_fails_at_once_on_a_file_without_the_schema(tmp_path: Any) -> None:
    with pytest.raises(sqlalchemy.exc.OperationalError, match="no such table: esi_budget_state"):
        await SqliteBudget.open(f"sqlite:///{tmp_path / 'empty.db'}", max_inflight=4, error_floor=5,
                                lease_ttl_s=10)




async def test_several_processes_at_a_high_error_rate_never_see_a_420(
        db_url: str, fake_esi: tuple[FakeEsi, str]) -> None:
    await no_420_from_processes(db_url, fake_esi, processes=3, tasks=6)


async def test_a_killed_processes_lease_expires(db_url: str) -> None:
    await a_killed_holders_lease_expires(db_url)


async def test_a_decision_waits_for_another_writer_and_goes_right_after_it(db_url: str, db_file: Any) -> None:
    budget = SqliteBudget(db_url, Limits(), rules=NO_DOWNTIME)
    writer = sqlite3.connect(db_file, isolation_level=None)  # the store, mid-transaction
    try:
        writer.execute("BEGIN IMMEDIATE")
        deciding = asyncio.ensure_future(budget.attempt("/x"))
        await asyncio.sleep(0.3)
        assert not deciding.done()
        writer.execute("COMMIT")
        released = time.monotonic()
        assert isinstance(await asyncio.wait_for(deciding, 2), Grant)
        assert time.monotonic() - released < 0.1, "the budget slept long after the lock was free"
    finally:
        writer.close()
        await budget.close()


def test_a_writer_holding_the_file_too_long_fails_the_decision(db_file: Any) -> None:
    row = BudgetRow(db_file, lock_patience_s=0.2)
    writer = sqlite3.connect(db_file, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlalchemy.exc.OperationalError, match="database is locked"):
            row.transact(lambda state, now: (state, None), time.time)
        writer.execute("ROLLBACK")
        assert row.transact(lambda state, now: (state, "went"), time.time) == "went"
    finally:
        writer.close()
        row.dispose()


async def test_steps_asked_in_one_turn_share_a_transaction_in_order(db_url: str, db_file: Any) -> None:
    budget = SqliteBudget(db_url, Limits(max_inflight=3, error_floor=10, lease_ttl_s=20), rules=NO_DOWNTIME)
    try:
        first = await budget.reserve("/x")  # the probe: the rules wait for ESI's report after it
        await budget.settle(first, report(100, 30))
        with sqlite3.connect(db_file) as other:  # counts the row's writes
            other.execute("CREATE TABLE writes (n INTEGER)")
            other.execute("CREATE TRIGGER counted AFTER UPDATE ON esi_budget_state "
                          "BEGIN INSERT INTO writes VALUES (1); END")
        verdicts = await asyncio.gather(*(budget.attempt("/x") for _ in range(5)))
        # Each step saw the State the one before it left: three leases fit, in order, then waits.
        assert [type(v) for v in verdicts] == [Grant, Grant, Grant, Wait, Wait]
        ids = [v.lease.id for v in verdicts if isinstance(v, Grant)]
        assert ids == sorted(ids) and len(set(ids)) == 3
        with sqlite3.connect(db_file) as other:
            assert other.execute("SELECT count(*) FROM writes").fetchone() == (1,)  # one write for five
    finally:
        await budget.close()


async def test_a_batch_behind_another_writer_is_answered_whole_once_it_is_free(
        db_url: str, db_file: Any) -> None:
    budget = SqliteBudget(db_url, Limits(), rules=NO_DOWNTIME)
    writer = sqlite3.connect(db_file, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        deciding = asyncio.gather(*(budget.attempt("/x") for _ in range(3)))
        await asyncio.sleep(0.2)
        assert not deciding.done()
        writer.execute("COMMIT")
        verdicts = await asyncio.wait_for(deciding, 2)
        assert isinstance(verdicts[0], Grant)  # the probe; the others wait for its report
        assert all(isinstance(v, Wait) for v in verdicts[1:])
    finally:
        writer.close()
        await budget.close()
