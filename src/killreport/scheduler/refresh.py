"""Re-queueing stored entities whose Expires has passed and that are as old as their tier's age
(docs/refresh-policy.md), a spread-out share each tick.

The job path never requests a resource before its Expires; this never queues one before either
(store/schedule.py's due rule), so the two together make no early request.
"""

from __future__ import annotations

import time

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain.schedule import Rhythm
from killreport.ids import KINDS, Kind
from killreport.scheduler.context import Scheduling
from killreport.scheduler.rules import release_count, steady_period
from killreport.sync.enqueue import enqueue

log = structlog.get_logger("killreport.scheduler")


# The tracked and active counts only scale the release rate, so ones a little old are as good, and
# counting a whole table every tick is the costliest query the scheduler would make.
TRACKED_TTL_S = 30.0


class Releaser:
    """Each tick, queues every kind's share of its due entities (rules.release_count)."""

    def __init__(self, ctx: Scheduling) -> None:
        self._ctx = ctx
        self._tracked: dict[Kind, tuple[float, int, float]] = {}

    async def tick(self, elapsed_s: float) -> dict[Kind, int]:
        """Queue each kind's share for `elapsed_s` seconds; returns how many were queued per kind."""
        queued: dict[Kind, int] = {}
        for kind in KINDS:
            count = await self._release(kind, elapsed_s)
            if count:
                queued[kind] = count
        if queued:
            log.debug("released due refreshes", **queued)
        return queued

    async def _release(self, kind: Kind, elapsed_s: float) -> int:
        ctx, rhythm = self._ctx, self._ctx.rhythm(kind)
        async with ctx.store.connect() as conn:
            history = ctx.settings.history
            due = await ctx.store.schedule.due_count(conn, kind, rhythm, history=history)
            if not due:
                return 0
            tracked, period = await self._spread_over(conn, kind, rhythm)
            share = release_count(due, tracked, period, elapsed_s, ctx.settings.refresh_spread)
            ids = await ctx.store.schedule.due_ids(conn, kind, rhythm, share, history=history)
        # skip_fresh: a copy stored since the read above is not queued; the pending set dedups the rest.
        # A row whose own answer is fresh may still have a history due, which "fresh" does not see:
        # those kinds are queued as read (a job finding nothing due asks ESI for nothing).
        fresh_means_done = kind == "alliance" or not history
        return await enqueue(ctx.store, ctx.broker, kind, ids, skip_fresh=fresh_means_done)

    async def _spread_over(self, conn: AsyncConnection, kind: Kind, rhythm: Rhythm) -> tuple[int, float]:
        """How many the kind tracks and the period they fall due over (rules.steady_period)."""
        now = time.monotonic()
        counted = self._tracked.get(kind)
        if counted is None or now - counted[0] > TRACKED_TTL_S:
            q = self._ctx.store.schedule
            tracked = await q.tracked(conn, kind)
            active = (await q.active_corporations(conn, rhythm.kill_window_s) if kind == "corporation"
                      else tracked)
            counted = self._tracked[kind] = (now, tracked, steady_period(tracked, active, rhythm))
        return counted[1], counted[2]
