"""MemoryBudget: the budget rules for one process (the embedded runner: budget/sqlite.py; unit tests)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from killreport.domain.budget import BudgetSnapshot, Lease
from killreport.domain.budget_rules import (
    RULES,
    Grant,
    Limits,
    Rules,
    State,
    apply_settle,
    decide,
    snapshot_of,
)
from killreport.domain.observation import Observation


class MemoryBudget:
    """The pure rules held in memory, from `state` (a fresh State if None); `clock` must be epoch
    seconds (time.time) for snapshots."""

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.time,
                 rules: Rules = RULES, state: State | None = None) -> None:
        self._limits = limits
        self._rules = rules
        self._clock = clock
        self._state = State() if state is None else state
        self._wake = asyncio.Event()

    @property
    def state(self) -> State:
        """The current state (immutable: a change is a new object)."""
        return self._state

    async def reserve(self, route: str) -> Lease:
        """Wait until a request on `route` fits every limit, then hold its lease."""
        while True:
            self._state, verdict = decide(self._state, self._clock(), route, self._limits, self._rules)
            if isinstance(verdict, Grant):
                rec = verdict.lease
                return Lease(id=rec.id, route=route, group=rec.group, probe=rec.probe)
            wake = self._wake
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=min(verdict.seconds, self._rules.poll_s))

    async def settle(self, lease: Lease, observation: Observation) -> None:
        """Return the lease and fold in the response's report."""
        self._state, wake = apply_settle(self._state, self._clock(), lease.id, lease.route, observation,
                                         self._rules, self._limits.cap_of(lease.route))
        if wake:
            self._wake.set()
            self._wake = asyncio.Event()

    async def snapshot(self) -> BudgetSnapshot:
        """The state in the shape `killreport status` shows."""
        return snapshot_of(self._state, self._clock(), self._rules)
