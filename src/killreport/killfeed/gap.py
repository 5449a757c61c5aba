"""A follower away longer than R2Z2 keeps its files: start again from the head, fill the gap from the
day files.

The ephemeral files after the cursor are gone by then (R2Z2 keeps them about a day), so walking on
from the cursor would only declare every number a hole, at 6 s and more per number. Instead, when
the newest kill the copy took from the feed was uploaded longer than R2Z2_RETENTION_S ago, the cursor
moves past the head pointer (everything up to it was uploaded before now, so the day files have it;
the pointer's own file may be gone already) and the UTC days from the last upload's (less the three
days kills may be posted late) to today are wanted from the day files, in the same transaction. The
head pointer lags the newest file (by about 51 kills on the real feed): numbers between it and the
newest are still asked, and those already gone become holes, their kills in the day files too.

The gap filler back-fills every wanted day whose list the feed serves: at once for the days before
today, today's once the feed lists it (the real feed: tomorrow). Kills are kept once per id, so
whatever the follower and the back-fill both bring is stored once. Kills from the day files have no
zkb block (the raw files are ESI's bodies): a later republication of one may bring it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Final

import structlog

from killreport.backfill import plan
from killreport.backfill.run import Backfill, Options
from killreport.esi.client import EsiClient
from killreport.queue.broker import Publisher
from killreport.r2z2.paced import PacedFeed
from killreport.store.interface import Store

log = structlog.get_logger("killreport.killfeed")
LATE_DAYS: Final = 3  # zKillboard takes kills up to 72 hours late
FILL_EVERY_S: Final = 600.0  # a wanted day the feed does not list yet is asked again this often


def gap_days(last_upload: dt.datetime, today: dt.date) -> list[str]:
    """The days a gap since `last_upload` may have kills of (late ones too), as YYYYMMDD, oldest first."""
    first = min(last_upload.astimezone(dt.UTC).date() - dt.timedelta(days=LATE_DAYS), today)
    return plan.days(first, today)


async def restart_if_away(store: Store, retention_s: float, now: dt.datetime,
                          head: Callable[[], Awaitable[int]]) -> list[str]:
    """If the copy's newest feed kill is older than `retention_s`: go on past the `head` pointer and
    want the gap's days (returned); else nothing changes ([])."""
    async with store.connect() as conn:
        state = await store.killmails.feed_state(conn)
    if state.cursor is None or state.lag_s is None or state.lag_s <= retention_s:
        return []
    days = gap_days(now - dt.timedelta(seconds=state.lag_s), now.date())
    pointer = await head()
    async with store.begin() as conn:
        await store.killmails.restart_from_head(conn, max(pointer + 1, state.cursor), days)
    log.warning("kill feed away longer than R2Z2 keeps its files: following from the head, the gap from "
                "the day files", away_s=round(state.lag_s), days=f"{days[0]}..{days[-1]}")
    return days


async def fill_wanted(store: Store, feed: PacedFeed, esi: EsiClient | None, queue: Publisher) -> list[str]:
    """Back-fill every wanted (unfinished) day the feed lists; the days it finished."""
    async with store.connect() as conn:
        wanted = sorted(d.day for d in await store.killmails.backfill_days(conn) if d.finished_at is None)
    if not wanted:
        return []
    work = Backfill(store, feed, esi, queue, progress=lambda _report: None, options=Options(open_days=True))
    reports = await work.run(wanted, redo=True)
    done = [r.day for r in reports if r.status == "complete"]
    log.info("kill feed gap filled from the day files", days=done, left=len(wanted) - len(done))
    return done
