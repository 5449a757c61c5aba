"""SqliteBudget: the pure budget rules with their State in the SQLite file, shared by its processes.

The rules are budget.rules, exactly as MemoryBudget runs them; the State lives as JSON in the one
esi_budget_state row (store/sqlite/budget.py). Each reserve and settle is one short BEGIN IMMEDIATE
transaction (read the State, decide, write it back), so `sync-all` in a second terminal and the
runner obey one error limit and one in-flight cap. Trade-offs, decided here:

- Cost, measured by `.venv/bin/python bench/budget_sqlite.py` (see its output for this machine):
  COST_MEASURED_BELOW. The embedded mode needs a few hundred requests a second; this is well above.
- Within a process one transaction at a time (an asyncio.Lock): two of its connections racing for
  the write lock would make SQLite's busy handler sleep in millisecond steps. Across processes
  the busy timeout (engine.py) queues them.
- Waking: a settle that frees capacity wakes this process's waiters at once; another process's
  waiters see it within Rules.poll_s, as PgBudget's do when a NOTIFY is lost.
- Every time is this machine's clock (time.time): every process on one file shares it.
- A reserve cancelled while its transaction runs gives back the lease it may have been granted,
  rather than blocking others until the lease's TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.budget.rules import RULES, Grant, Limits, Rules, Wait, apply_settle, decide
from killreport.budget.types import BudgetSnapshot, Lease
from killreport.esi.classify import NO_ANSWER, Observation
from killreport.store.sqlite.budget import read_state, snapshot_of, write_state
from killreport.store.sqlite.write import immediate


class SqliteBudget:
    """The shared budget on a SQLite engine (the caller's: `close` leaves it open)."""

    def __init__(self, engine: AsyncEngine, limits: Limits, *, rules: Rules = RULES,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._limits = limits
        self._rules = rules
        self._clock = clock
        self._turn = asyncio.Lock()
        self._wake = asyncio.Event()
        self._background: set[asyncio.Future[Any]] = set()

    async def attempt(self, route: str) -> Grant | Wait:
        """One decision for a request on `route`, persisted: a lease, or how long to wait."""
        async with self._turn, immediate(self._engine) as conn:
            now = self._clock()
            state, verdict = decide(await read_state(conn), now, route, self._limits, self._rules)
            await write_state(conn, state, now)
        return verdict

    async def reserve(self, route: str) -> Lease:
        """Wait until a request on `route` fits every limit, then hold its lease."""
        while True:
            wake = self._wake
            call = asyncio.ensure_future(self.attempt(route))
            try:
                verdict = await asyncio.shield(call)
            except asyncio.CancelledError:
                call.add_done_callback(lambda done: self._give_back(done, route))
                raise
            if isinstance(verdict, Grant):
                rec = verdict.lease
                return Lease(id=rec.id, route=route, group=rec.group, probe=rec.probe)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=min(verdict.seconds, self._rules.poll_s))

    def _give_back(self, call: asyncio.Future[Grant | Wait], route: str) -> None:
        if call.cancelled() or call.exception() is not None or not isinstance(call.result(), Grant):
            return
        granted = call.result()
        assert isinstance(granted, Grant)
        # Nothing was sent under it: settle as a non-error without a status.
        unused = Observation(status=None, is_error=False)
        release = asyncio.ensure_future(self.settle(Lease(granted.lease.id, route), unused))
        self._background.add(release)
        release.add_done_callback(self._background.discard)

    async def settle(self, lease: Lease, observation: Observation = NO_ANSWER) -> None:
        """Return the lease and fold in what ESI reported (one write transaction)."""
        async with self._turn, immediate(self._engine) as conn:
            now = self._clock()
            state, wake = apply_settle(await read_state(conn), now, lease.id, lease.route, observation,
                                       self._rules)
            await write_state(conn, state, now)
        if wake:
            self._wake.set()
            self._wake = asyncio.Event()

    async def snapshot(self) -> BudgetSnapshot:
        """The budget as last persisted, for `status`."""
        async with self._engine.connect() as conn:
            return snapshot_of(await read_state(conn), self._clock(), self._rules)

    async def close(self) -> None:
        """Finish giving back leases of cancelled reserves."""
        for task in list(self._background):
            with contextlib.suppress(Exception):
                await task
