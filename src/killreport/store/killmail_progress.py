"""KillmailQueries' bookkeeping, both stores: the feed's state for `status`, R2Z2's shared pace, and
the back-fill's days.

The pace is one row every process that asks R2Z2 takes its turn from (domain/feed_pace.py's rules):
the row is locked for the turn (FOR UPDATE on PostgreSQL; on SQLite the first statement is a write,
so the transaction holds the file's write lock), the clock is the database's, so processes agree.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain import feed_pace
from killreport.store import tables as t
from killreport.store.dialects import of

_f, _pace, _days = t.killmail_feed, t.r2z2_pace, t.killmail_backfill


@dataclass(frozen=True, slots=True)
class FeedState:
    """What `status` shows of the feed: where it is, how far behind, what went wrong, who follows."""

    cursor: int | None
    head: int | None
    head_seen_at: dt.datetime | None
    lag_kills: int | None  # head - cursor, when both are known
    lag_s: float | None  # now - the newest stored feed kill's upload time
    holes: int
    rejected: int
    stored: int
    last_error: str | None
    last_error_at: dt.datetime | None
    holder: str | None
    heartbeat_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Pace:
    """R2Z2's shared pace: requests in the last second, and a pause after a refusal."""

    recent: int
    paused_until: float  # epoch seconds; in the past when not paused
    refusals: int


@dataclass(frozen=True, slots=True)
class BackfillDay:
    """One back-filled UTC day: listed by its day file, stored, totals.json's count, finished when."""

    day: str  # YYYYMMDD
    listed: int
    stored: int
    expected: int | None
    started_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def complete(self) -> bool:
        """Finished, every listed kill stored, and totals.json agrees (when it has the day)."""
        return (self.finished_at is not None and self.stored >= self.listed
                and (self.expected is None or self.expected == self.listed))


async def feed_state(conn: AsyncConnection) -> FeedState:
    """Cursor, head, lag, holes, last error, who follows, kept aside and stored counts."""
    sql = of(conn)
    row = (await conn.execute(select(_f, sql.now().label("db_now")).where(_f.c.id == 1))).mappings().first()
    counts = await _counts(conn)
    if row is None:
        return FeedState(None, None, None, None, None, *counts, None, None, None, None)
    cursor, head = row["cursor"], row["head"]
    lag_kills = max(head - cursor, 0) if cursor is not None and head is not None else None
    lag_s = None if row["uploaded_at"] is None else max(row["db_now"].timestamp() - row["uploaded_at"], 0.0)
    return FeedState(cursor, head, row["head_seen_at"], lag_kills, lag_s, *counts, row["last_error"],
                     row["last_error_at"], row["holder"], row["heartbeat_at"])


async def _counts(conn: AsyncConnection) -> tuple[int, int, int]:
    h = t.killmail_holes
    query = select(select(func.count()).select_from(h).where(h.c.filled_at.is_(None)).scalar_subquery(),
                   select(func.count()).select_from(t.killmail_rejected).scalar_subquery(),
                   select(func.count()).select_from(t.killmails).scalar_subquery())
    holes, rejected, stored = (await conn.execute(query)).one()
    return int(holes), int(rejected), int(stored)


# ---- R2Z2's shared pace ------------------------------------------------------------------------------

async def _locked_pace(conn: AsyncConnection) -> Row[Any]:
    """The pace row, created if missing, locked for this transaction, with the database's clock."""
    sql = of(conn)
    await conn.execute(sql.insert(_pace).values(id=1, sent="[]", paused_until=0.0, refusals=0)
                       .on_conflict_do_nothing(index_elements=[_pace.c.id]))
    query = select(_pace.c.sent, _pace.c.paused_until, _pace.c.refusals, _epoch(conn).label("now_s")).where(
        _pace.c.id == 1).with_for_update()
    return (await conn.execute(query)).one()


def _epoch(conn: AsyncConnection) -> Any:
    """The database's clock as epoch seconds."""
    return of(conn).clock_s()


async def reserve_pace(conn: AsyncConnection, max_rps: int) -> float:
    """Take R2Z2's next request slot for this process; the seconds to wait before sending it."""
    row = await _locked_pace(conn)
    now = float(row.now_s)
    at, kept = feed_pace.next_slot(json.loads(row.sent), now, float(row.paused_until), max_rps)
    await conn.execute(update(_pace).where(_pace.c.id == 1).values(sent=json.dumps(kept)))
    return at - now


async def pause_pace(conn: AsyncConnection, retry_after_s: float | None, first_s: float) -> float:
    """Every process pauses after a refusal or a failure; returns the pause's length."""
    row = await _locked_pace(conn)
    wait = feed_pace.pause_s(int(row.refusals), retry_after_s, first_s)
    until = max(float(row.paused_until), float(row.now_s) + wait)
    await conn.execute(update(_pace).where(_pace.c.id == 1).values(paused_until=until,
                                                                    refusals=_pace.c.refusals + 1))
    return wait


async def calm_pace(conn: AsyncConnection) -> None:
    """An answer that was not a refusal: the next pause starts small again."""
    await conn.execute(update(_pace).where(_pace.c.id == 1, _pace.c.refusals != 0).values(refusals=0))


async def pace(conn: AsyncConnection) -> Pace:
    """R2Z2's shared pace now: requests in the last second, the pause, refusals in a row."""
    row = (await conn.execute(select(_pace.c.sent, _pace.c.paused_until, _pace.c.refusals,
                                     _epoch(conn).label("now_s")).where(_pace.c.id == 1))).first()
    if row is None:
        return Pace(0, 0.0, 0)
    now = float(row.now_s)
    recent = sum(1 for sent in json.loads(row.sent) if sent > now - 1.0)  # taken, gone or going
    return Pace(recent, float(row.paused_until), int(row.refusals))


# ---- the back-fill's days ----------------------------------------------------------------------------

def _day_range(day: str) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.strptime(day, "%Y%m%d").replace(tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


async def backfill_day(conn: AsyncConnection, day: str, *, listed: int | None = None,
                       expected: int | None = None, finished: bool = False) -> BackfillDay:
    """Record a back-fill day's progress (what is given), count its stored kills; return the row."""
    sql, k = of(conn), t.killmails.c
    start, end = _day_range(day)
    stored = (await conn.execute(select(func.count()).where(k.killmail_time >= start,
                                                            k.killmail_time < end))).scalar_one()
    given: dict[str, Any] = {"stored": int(stored)}
    if listed is not None:
        given["listed"] = listed
    if expected is not None:
        given["expected"] = expected
    if finished:
        given["finished_at"] = sql.now()
    stmt = sql.insert(_days).values({"day": day, "listed": 0, "started_at": sql.now(), **given})
    await conn.execute(stmt.on_conflict_do_update(index_elements=[_days.c.day], set_=given))
    found = (await conn.execute(select(_days).where(_days.c.day == day))).mappings().one()
    return BackfillDay(**found)


async def restart_from_head(conn: AsyncConnection, cursor: int, days: list[str]) -> None:
    """The follower was away longer than the feed keeps its files: it goes on from `cursor` (past the
    head) and `days` are wanted from the day files (a day finished earlier is wanted again: kills of
    the gap may have been added to its file since)."""
    sql = of(conn)
    await conn.execute(update(_f).where(_f.c.id == 1).values(cursor=cursor, updated_at=sql.now()))
    for day in days:
        _day_range(day)  # refuse a malformed day before writing it
        stmt = sql.insert(_days).values(day=day, listed=0, stored=0, started_at=sql.now())
        again = stmt.on_conflict_do_update(index_elements=[_days.c.day], set_={"finished_at": None})
        await conn.execute(again)


async def backfill_days(conn: AsyncConnection) -> list[BackfillDay]:
    """Every back-filled day, newest first."""
    found = (await conn.execute(select(_days).order_by(_days.c.day.desc()))).mappings()
    return [BackfillDay(**row) for row in found]
