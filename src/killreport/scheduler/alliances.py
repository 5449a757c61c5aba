"""Keeping GET /alliances current: new alliances are queued, those that left it are marked closed.

Nothing is deleted: a closed alliance keeps its row, gets one more fetch at its Expires (its final
state: no executor, no members), and is then left alone; if it comes back it is tracked again.
"""

from __future__ import annotations

import datetime as dt

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain import models
from killreport.domain.cache import NotModified
from killreport.esi.errors import EsiError, TransientError
from killreport.scheduler.context import Scheduling
from killreport.scheduler.rules import ListDelta, closing_changes, list_delta
from killreport.store import schedule
from killreport.store.facts import CacheFacts
from killreport.store.interface import ScheduleQueries
from killreport.store.schedule import ListCache
from killreport.sync.enqueue import enqueue

log = structlog.get_logger("killreport.scheduler")


async def refresh_list_if_due(ctx: Scheduling) -> ListDelta | None:
    """Fetch the alliance list if it expired (conditionally), then act on it; None if it was not due.

    Fetched under the store's fetch lock, and looked at again once it is held: `sync-all` may have
    fetched it meanwhile (sync/orchestrate.alliance_ids)."""
    if not _due(await _stored_list(ctx)):
        return None
    async with ctx.store.jobs.fetch_lock(ctx.store.engine, schedule.ALLIANCE_LIST):
        cached = await _stored_list(ctx)
        if not _due(cached):
            return None
        return await _refresh_list(ctx, cached)


async def _stored_list(ctx: Scheduling) -> ListCache | None:
    async with ctx.store.connect() as conn:
        return await ctx.store.schedule.alliance_list(conn, ctx.settings.refresh_min_age_alliance)


def _due(cached: ListCache | None) -> bool:
    return cached is None or cached.due


async def _refresh_list(ctx: Scheduling, cached: ListCache | None) -> ListDelta:
    """Fetch the due list (conditionally, with a stored copy), store it, act on what changed."""
    try:
        got = await ctx.esi.get(schedule.ALLIANCE_LIST, models.IdList, cached.etag if cached else None)
    except EsiError as exc:
        expires = exc.expires_at
        if cached is not None and expires is not None:
            # An unusable answer still came with an Expires: the copy is not asked for again before
            # it, whichever scheduler leads by then (the ids stay as they were).
            async with ctx.store.begin() as conn:
                await ctx.store.schedule.hold_list(conn, expires)
        raise
    now = dt.datetime.now(dt.UTC)
    async with ctx.store.begin() as conn:
        if isinstance(got, NotModified):
            if cached is None:  # a 304 answers only a conditional request, which needs a copy
                raise TransientError("304 without a stored list", status=304, path=schedule.ALLIANCE_LIST)
            await ctx.store.schedule.touch_list(conn, got.expires_at, now)
            delta = await _apply(ctx.store.schedule, conn, cached.ids, cached.last_modified)
        else:
            ids = sorted(got.data)
            await ctx.store.jobs.put_ids(conn, schedule.ALLIANCE_LIST, ids, CacheFacts.of(got, now))
            delta = await _apply(ctx.store.schedule, conn, ids, got.last_modified)
    # Queued after the commit; the pending set dedups, and a closed alliance still fresh is skipped
    # here and fetched once more by the due rule at its Expires.
    queued = await enqueue(ctx.store, ctx.broker, "alliance", [*delta.new, *delta.returned, *delta.left],
                           skip_fresh=True)
    if queued or delta.left or delta.returned:
        log.info("alliance list changed", queued=queued, left=len(delta.left), returned=len(delta.returned))
    return delta


async def _apply(q: ScheduleQueries, conn: AsyncConnection, listed: list[int],
                 modified: dt.datetime | None) -> ListDelta:
    """Compare the list with the stored alliances; mark closings and returns, with their changes.

    Done on every fetch, 304s included, so a scheduler that died between its commit and its
    enqueue leaves nothing behind: the next look queues what is still missing.
    """
    stored = await q.stored_alliances(conn)
    delta = list_delta(listed, stored, modified)
    closed = await q.close_alliances(conn, delta.left)
    reopened = await q.reopen_alliances(conn, delta.returned)
    await q.record_changes(conn, closing_changes(closed, reopened))
    return delta
