"""SqliteBudget: the pure budget rules with their State in the SQLite file, shared by its processes.

The rules are domain.budget_rules, exactly as MemoryBudget runs them; the State lives as JSON in the one
esi_budget_state row (store/sqlite/budget.py). Each reserve and settle is one short BEGIN IMMEDIATE
transaction (read the State, decide, write it back), so `sync-all` in a second terminal and the
runner obey one error limit and one in-flight cap. Trade-offs, decided here:

- Cost, measured by `.venv/bin/python bench/budget_sqlite.py --tasks 8` on a 2-core VM shared
  with other work: 3,650 reserve+settle pairs/s in one process, about 210 us of CPU a pair
  (2026-11-30; 450-500/s and 650-800 us when every transaction was a hand-off to the budget's
  thread through a SQLAlchemy engine). Beside another process committing ~380 writes a second
  it fell to 265 pairs/s (before those changes; 168 before BudgetRow waited for the write lock
  itself): the file's one write lock is shared with every store write, so the real ceiling is
  the runner's, measured under its load (bench/embedded.py). Should it fall short, the way out
  is MemoryBudget in the runner with its State written to the row every second or so for
  `status` (other processes would then not share it live).
- A transaction runs at once on the event loop's thread when the file's write lock is free and
  the budget's own thread is idle: it takes about 100 us and never waits there
  (BudgetRow.transact without `wait`). The store's transactions run whole within one step of
  the loop too (store/sqlite/driver.py), so in one process the lock is almost always free.
  Otherwise it runs, one whole transaction per hand-off, on the budget's thread, which waits for
  the lock. Each hand-off cost a wake-up of two threads, two of them per ESI request: about 12 %
  of the embedded runner's CPU (py-spy during bench/embedded.py). Through aiosqlite each of a
  transaction's four calls was a hand-off and a pair cost 8.8 ms (113 pairs/s). One thread
  also means one transaction of this process at a time: two of its connections racing for the
  write lock would make SQLite's busy handler sleep in millisecond steps.
- Batching: the steps asked for within one turn of the event loop (settles of answers that
  arrived together, the next jobs' attempts) run in one transaction, in the order asked, each on
  the State the one before left: one read, one write and one commit for all of them. Each waits
  one turn of the loop for it.
- Waking: a settle that frees capacity wakes this process's longest waiter at once (see
  `_waiters`); another process's waiters see it within Rules.poll_s, as PgBudget's do when a
  NOTIFY is lost.
- Every time is this machine's clock (`clock`, time.time), read once the write lock is held:
  every process on one file shares it.
- A reserve cancelled while its transaction runs gives back the lease it may have been granted,
  rather than blocking others until the lease's TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError

from killreport.domain.budget import BudgetSnapshot, Lease
from killreport.domain.budget_rules import RULES, Grant, Limits, Rules, State, Wait, apply_settle, decide
from killreport.domain.observation import NO_ANSWER, Observation
from killreport.store.sqlite.budget import BudgetRow, snapshot_of
from killreport.store.sqlite.engine import path_of

T = TypeVar("T")


class SqliteBudget:
    """The shared budget on a `sqlite:///` file; `await close()` when done."""

    def __init__(self, database_url: str, limits: Limits, *, rules: Rules = RULES,
                 clock: Callable[[], float] = time.time) -> None:
        self._row = BudgetRow(path_of(database_url))
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="killreport-budget")
        self._limits = limits
        self._rules = rules
        self._clock = clock
        # Reserves waiting for capacity, in line: a settle that frees some wakes the first, and a
        # woken reserve that is granted wakes the next. Waking them all (an Event) made every waiter
        # ask the budget again after every settle: with 64 jobs and 32 in flight, CPU per request
        # rose 14 % (bench/embedded.py --concurrency 64). A waiter also asks again every poll_s, for
        # capacity another process frees, and a group's pause that strands a wake lasts that long.
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._freed = 0  # settles that freed capacity, so a reserve sees one that came while it asked
        self._background: set[asyncio.Future[Any]] = set()
        self._running: Future[Any] | None = None  # the thread's last call
        self._batch: list[tuple[Callable[[State, float], tuple[State, Any]], asyncio.Future[Any]]] = []

    @classmethod
    async def open(cls, database_url: str, *, max_inflight: int, error_floor: int,
                   lease_ttl_s: float, rules: Rules = RULES) -> SqliteBudget:
        """The budget on the file, built as PgBudget.open builds its own (the tables must exist)."""
        budget = cls(database_url, Limits(max_inflight, error_floor, lease_ttl_s), rules=rules)
        await budget.snapshot()  # fail here, not at the first request, on a file it cannot read
        return budget

    async def _in_thread(self, work: Callable[[], T]) -> T:
        running = self._thread.submit(work)
        self._running = running  # the thread runs in order: this one done, all before it are
        return await asyncio.wrap_future(running)

    async def _transact(self, step: Callable[[State, float], tuple[State, T]]) -> T:
        """`step` applied to the State in a transaction shared with the steps asked for in the same
        turn of the event loop (see the module)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._batch.append((step, done))
        if len(self._batch) == 1:
            loop.call_soon(self._flush)
        return await done

    def _flush(self) -> None:
        """Run the batch: here and now if the lock is free and the thread idle, else on the thread."""
        batch, self._batch = self._batch, []
        steps = [step for step, _ in batch]
        if self._running is None or self._running.done():
            try:
                _deliver(batch, self._row.transact_all(steps, self._clock, wait=False))
                return
            except OperationalError as exc:
                if "locked" not in str(exc.orig):
                    _fail(batch, exc)
                    return
            except Exception as exc:
                _fail(batch, exc)
                return
        running = self._thread.submit(self._row.transact_all, steps, self._clock)
        self._running = running
        asyncio.wrap_future(running).add_done_callback(lambda ended: _ended(batch, ended))

    async def attempt(self, route: str) -> Grant | Wait:
        """One decision for a request on `route`, persisted: a lease, or how long to wait."""
        def step(state: State, now: float) -> tuple[State, Grant | Wait]:
            return decide(state, now, route, self._limits, self._rules)

        return await self._transact(step)

    async def reserve(self, route: str) -> Lease:
        """Wait until a request on `route` fits every limit, then hold its lease."""
        woken = False
        while True:
            freed = self._freed
            call = asyncio.ensure_future(self.attempt(route))
            try:
                verdict = await asyncio.shield(call)
            except asyncio.CancelledError:
                call.add_done_callback(lambda done: self._give_back(done, route))
                if woken:
                    self._wake_one()  # what woke it is someone else's now
                raise
            if isinstance(verdict, Grant):
                if woken:
                    self._wake_one()  # what woke it may have freed more than this lease
                rec = verdict.lease
                return Lease(id=rec.id, route=route, group=rec.group, probe=rec.probe)
            if self._freed != freed:  # capacity came back while it asked: ask again at once
                woken = False
                continue
            woken = await self._sleep(min(verdict.seconds, self._rules.poll_s))

    async def _sleep(self, seconds: float) -> bool:
        """Wait in line until a settle here wakes this waiter (True) or `seconds` pass (False)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, seconds)
            return True
        except TimeoutError:
            return False
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _wake_one(self) -> None:
        """Wake the longest waiting reserve, if any."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _give_back(self, call: asyncio.Future[Grant | Wait], route: str) -> None:
        if call.cancelled() or call.exception() is not None:
            return
        granted = call.result()
        if not isinstance(granted, Grant):
            return
        # Nothing was sent under it: settle as a non-error without a status.
        unused = Observation(status=None, is_error=False)
        release = asyncio.ensure_future(self.settle(Lease(granted.lease.id, route), unused))
        self._background.add(release)
        release.add_done_callback(self._background.discard)

    async def settle(self, lease: Lease, observation: Observation = NO_ANSWER) -> None:
        """Return the lease and fold in what ESI reported (one write transaction)."""
        def step(state: State, now: float) -> tuple[State, bool]:
            return apply_settle(state, now, lease.id, lease.route, observation, self._rules)

        if await self._transact(step):
            self._freed += 1
            self._wake_one()

    async def snapshot(self) -> BudgetSnapshot:
        """The budget as last persisted, for `status`."""
        state = await self._in_thread(self._row.load)
        return snapshot_of(state, self._clock(), self._rules)

    async def close(self) -> None:
        """Give back the leases of cancelled reserves, then close the connection and the thread."""
        for task in list(self._background):
            with contextlib.suppress(Exception):
                await task
        await asyncio.sleep(0)  # a batch already scheduled runs first (the thread keeps the order)
        await self._in_thread(self._row.dispose)
        self._thread.shutdown(wait=False)


def _deliver(batch: list[tuple[Any, asyncio.Future[Any]]], results: list[Any]) -> None:
    for (_, done), result in zip(batch, results, strict=True):
        if not done.done():  # a caller cancelled meanwhile: its step is in the State all the same
            done.set_result(result)


def _fail(batch: list[tuple[Any, asyncio.Future[Any]]], exc: BaseException) -> None:
    for _, done in batch:
        if not done.done():
            done.set_exception(exc)


def _ended(batch: list[tuple[Any, asyncio.Future[Any]]], ended: asyncio.Future[list[Any]]) -> None:
    if ended.cancelled():  # the thread was shut down first
        for _, done in batch:
            done.cancel()
    elif (exc := ended.exception()) is not None:
        _fail(batch, exc)
    else:
        _deliver(batch, ended.result())
