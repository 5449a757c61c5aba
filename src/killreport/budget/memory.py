"""MemoryBudget: the budget rules for one process (unit tests, a single-process embedded mode)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable

from killreport.domain.budget import DOWNTIME, BucketState, BudgetSnapshot, Lease
from killreport.domain.budget_rules import RULES, Grant, Limits, Rules, State, apply_settle, decide, esi_down
from killreport.domain.observation import Observation


def _at(seconds: float) -> dt.datetime | None:
    """An epoch-seconds instant as a datetime; None for 'never set'."""
    if seconds <= 0:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class MemoryBudget:
    """The pure rules held in memory; `clock` must be epoch seconds (time.time) for snapshots."""

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.time,
                 rules: Rules = RULES) -> None:
        self._limits = limits
        self._rules = rules
        self._clock = clock
        self._state = State()
        self._wake = asyncio.Event()

    @property
    def state(self) -> State:
        """The current state (immutable), for tests."""
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
                                         self._rules)
        if wake:
            self._wake.set()
            self._wake = asyncio.Event()

    async def snapshot(self) -> BudgetSnapshot:
        """The state in the shape `killreport status` shows."""
        s = self._state
        now = self._clock()
        down = esi_down(s.unavailable_at, s.up_since, now, self._rules)
        buckets = [
            BucketState(group=b.group, limit=b.limit, window_s=int(b.window_s), remaining=b.remaining,
                        reported_at=None, paused_until=_at(b.paused_until))
            for b in sorted(s.buckets.values(), key=lambda b: b.group)
        ]
        return BudgetSnapshot(
            error_limit_remaining=s.error_remain,
            error_limit_reset_at=_at(s.window_end),
            paused_until=_at(s.paused_until),
            pause_reason=DOWNTIME if down else s.pause_reason,
            in_flight=sum(1 for lease in s.leases if lease.expires_at >= now),
            buckets=buckets,
            route_groups=dict(s.routes),
            downtime=down,
        )
