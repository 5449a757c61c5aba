"""The affiliation sweep: who changed corporation or alliance, for every stored character, an hour at a time.

A character's own GET is cached for a day, but POST /characters/affiliation answers 1,000 of
them at once and is cached for an hour. A sweep asks for every stored, not deleted character,
1,000 ids a call, one call at a time (steady, never a burst), reading the next 1,000 ids by key
after each call, updates `corporation_id` and `alliance_id` of those that moved, marks their
details wanted (their GET then waits only for its own Expires, not for the 30-day age), records
the changes, and queues the corporations and alliances they moved to that are not stored.

Its rhythm lives in `scheduler_marks`: when the last sweep started, and the latest Expires of its
answers. A sweep starts only a period after the last one and after that Expires, so no id is
asked again early, whichever scheduler leads. The start is marked before the first call: a
leader that dies mid-sweep costs the rest of that sweep (the next one, a period later, asks for
them), never an early repeat.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from killreport.esi.errors import TransientError
from killreport.scheduler.context import Scheduling
from killreport.scheduler.retry import retrying
from killreport.scheduler.rules import AFFILIATION_BATCH, move_changes, moves, pointed_to, sweep_due
from killreport.sync.enqueue import enqueue

log = structlog.get_logger("killreport.scheduler")


async def sweep_if_due(ctx: Scheduling) -> int | None:
    """Run a whole sweep if one is due; returns how many characters moved, None if none was due."""
    async with ctx.store.begin() as conn:
        marks = await ctx.store.schedule.sweep_marks(conn)
        period_s = ctx.settings.refresh_min_age_affiliation
        if not sweep_due(marks.now, marks.started, marks.not_before, period_s):
            return None
        chunk = await ctx.store.schedule.sweep_ids(conn, after=0, limit=AFFILIATION_BATCH)
        if not chunk:  # nothing stored yet: the first characters get their sweep as soon as they are
            return None
        await ctx.store.schedule.mark_sweep_started(conn)
    moved = asked = calls = 0
    while chunk:
        try:
            moved += await _sweep_chunk(ctx, chunk)
        except TransientError as exc:
            if not await _unusable(ctx, exc):
                # No answer after retries: the rest waits for the next sweep rather than spend
                # more of the error budget now.
                log.warning("affiliation sweep abandoned", error=str(exc), characters=asked + len(chunk))
                break
            log.warning("affiliation answer unusable; its ids wait for the next sweep", error=str(exc))
        asked, calls = asked + len(chunk), calls + 1
        chunk = await _next_chunk(ctx, chunk)
    log.info("affiliation sweep done", characters=asked, calls=calls, moved=moved)
    return moved


async def _next_chunk(ctx: Scheduling, chunk: Sequence[int]) -> list[int]:
    """The next ids after `chunk`'s last, read by key a page at a time (never every id at once:
    twenty million of them would be a whole-table read and most of a gigabyte of Python ints)."""
    if len(chunk) < AFFILIATION_BATCH:
        return []
    async with ctx.store.connect() as conn:
        return await ctx.store.schedule.sweep_ids(conn, after=chunk[-1], limit=AFFILIATION_BATCH)


async def _unusable(ctx: Scheduling, exc: TransientError) -> bool:
    """Whether the error was an answer with an Expires; if so, no sweep starts before it."""
    expires = exc.expires_at
    if expires is None:
        return False
    async with ctx.store.begin() as conn:
        await ctx.store.schedule.hold_sweep_until(conn, expires)
    return True


async def _sweep_chunk(ctx: Scheduling, ids: Sequence[int]) -> int:
    """One call: apply the moves it shows, record them, queue what they point to that is not stored."""
    # Only the call is retried: once answered, these ids are not asked again before its Expires.
    got = await retrying(lambda: ctx.esi.affiliations(ids))
    async with ctx.store.begin() as conn:
        if got.expires_at is not None:
            await ctx.store.schedule.hold_sweep_until(conn, got.expires_at)
        found = moves(await ctx.store.schedule.affiliations(conn, ids), got.data)
        applied = await ctx.store.schedule.apply_moves(conn, found)
        done = [m for m in found if m.character_id in applied]
        await ctx.store.schedule.record_changes(conn, move_changes(done))
        corporations, alliances = pointed_to(done)
        new_corporations = await ctx.store.schedule.missing(conn, "corporation", corporations)
        new_alliances = await ctx.store.schedule.missing(conn, "alliance", alliances)
    await enqueue(ctx.store, ctx.broker, "alliance", new_alliances, skip_fresh=True)
    await enqueue(ctx.store, ctx.broker, "corporation", new_corporations, skip_fresh=True)
    return len(done)
