"""RunnerBudget: the embedded budget, MemoryBudget in the one process that holds the file's runner lock.

Only that process sends ESI requests on a SQLite file (sync/asked.py says how a command's alliance
list comes from it), so the rules (domain.budget_rules, as MemoryBudget runs them) run in its
memory: a reserve or a settle costs no I/O and waits for no lock. Its State is written to the
file's esi_budget_state row (store/sqlite/budget.py), outside the requests' path:

- for the readers in other processes (`status`, `--watch`, the web, `sync-all --wait`'s progress):
  within WRITE_EVERY_S of a change, at least every STALE_S / 2 while leases are held (a row older
  than STALE_S is a stopped runner's and shows nothing in flight), and at close;
- for the next runner, which starts from it: a 420's or 429's pause, the error window, the token
  buckets' spends, /status's Expires and the leases a killed runner left in flight (they count
  until their TTL) carry over a restart, so what ESI sees does not depend on one. What a SIGKILL
  loses is what changed in its last WRITE_EVERY_S.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Final

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.budget.memory import MemoryBudget
from killreport.domain.budget_rules import RULES, CapGroup, Limits, Rules, State
from killreport.store.sqlite.budget import STALE_S, read_state, write_state
from killreport.store.sqlite.engine import open_engine

log = structlog.get_logger("killreport.budget")

WRITE_EVERY_S: Final = 0.5


class RunnerBudget(MemoryBudget):
    """MemoryBudget with its State kept in the SQLite file; `await close()` when done."""

    def __init__(self, engine: AsyncEngine, limits: Limits, *, rules: Rules = RULES,
                 clock: Callable[[], float] = time.time, state: State | None = None,
                 write_every_s: float = WRITE_EVERY_S) -> None:
        super().__init__(limits, clock=clock, rules=rules, state=state)
        self._engine = engine
        self._written: tuple[State, float] = (self.state, -1e18)  # the State last written, and when
        self._every_s = write_every_s
        self._writing: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, database_url: str, *, max_inflight: int, error_floor: int,
                   lease_ttl_s: float, rules: Rules = RULES,
                   route_caps: Mapping[str, CapGroup] | None = None) -> RunnerBudget:
        """The budget from the State the last runner left in the file (the tables must exist)."""
        engine = open_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as conn:
                state = await read_state(conn)
        except BaseException:
            await engine.dispose()
            raise
        limits = Limits(max_inflight, error_floor, lease_ttl_s, dict(route_caps or {}))
        budget = cls(engine, limits, rules=rules, state=state)
        budget._writing = asyncio.create_task(budget._keep_writing())
        return budget

    def _due(self, now: float) -> bool:
        """Whether the State should be written now (see the module)."""
        state, at = self._written
        if state is not self.state:
            return True
        return bool(state.leases) and now - at >= STALE_S / 2

    async def write(self) -> None:
        """Write the State as it is now, if it is not written already."""
        now = self._clock()
        if not self._due(now):
            return
        state = self.state
        async with self._engine.begin() as conn:
            await write_state(conn, state, now)
        self._written = (state, now)

    async def _keep_writing(self) -> None:
        while True:
            await asyncio.sleep(self._every_s)
            try:
                await self.write()
            except Exception as exc:  # the file is busy or blinked: the next turn writes it
                log.warning("budget state not written", error=f"{type(exc).__name__}: {exc}".splitlines()[0])

    async def close(self) -> None:
        """Stop writing, write the State once more, close the engine."""
        if self._writing is not None:
            self._writing.cancel()
            await asyncio.wait([self._writing])  # unlike awaiting it, never mistakes its cancel for ours
        try:
            await self.write()
        finally:
            await self._engine.dispose()
