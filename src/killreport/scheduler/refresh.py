"""Re-queueing stored entities whose Expires has passed, a spread-out share each tick.

The job path never requests a resource before its Expires; this never queues one before either
(store/schedule.py's due rule), so the two together make no early request.
"""

from __future__ import annotations

import structlog

from killreport.ids import KINDS, Kind
from killreport.scheduler.context import Scheduling
from killreport.scheduler.rules import release_count
from killreport.store import schedule
from killreport.sync.enqueue import enqueue

log = structlog.get_logger("killreport.scheduler")


async def release_due(ctx: Scheduling, elapsed_s: float) -> dict[Kind, int]:
    """Queue each kind's share of its due entities for `elapsed_s` seconds; returns how many were queued."""
    queued: dict[Kind, int] = {}
    for kind in KINDS:
        count = await _release_kind(ctx, kind, elapsed_s)
        if count:
            queued[kind] = count
    if queued:
        log.debug("released due refreshes", **queued)
    return queued


async def _release_kind(ctx: Scheduling, kind: Kind, elapsed_s: float) -> int:
    min_age = ctx.min_age_s(kind)
    async with ctx.engine.connect() as conn:
        left = await schedule.backlog(conn, kind, min_age)
        share = release_count(left.due, left.tracked, min_age, elapsed_s, ctx.settings.refresh_spread)
        ids = await schedule.due_ids(conn, kind, min_age, share)
    if not ids:
        return 0
    # skip_fresh: a copy stored since the read above is not queued; the pending set dedups the rest.
    return await enqueue(ctx.engine, ctx.broker, kind, ids, skip_fresh=True)
