"""AdminQueries on SQLite: counts, freshness, request counts, changes, the budget snapshot.

Statements that are plain SQL on both stores are PostgreSQL's own (entity counts, request totals,
recent changes); the rest are store/pending.py's, freshness.py's and request_counts.py's on
SQLite's clock (schedule.NOW, epoch seconds).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Float,
    Integer,
    Text,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.sqlite import insert as upsert
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain.routes import RouteStatus
from killreport.store import tables as t
from killreport.store.changes import recent as recent_changes
from killreport.store.entities import entity_counts
from killreport.store.freshness import Freshness
from killreport.store.request_counts import totals as request_totals
from killreport.store.sqlite.budget import budget_snapshot
from killreport.store.sqlite.schedule import NOW, NOW_S

__all__ = [
    "add_request_counts", "budget_snapshot", "entity_counts", "freshness", "pending_counts", "ping",
    "recent_changes", "recent_requests", "request_totals", "schema_version",
]

_VERSION_TABLE = text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")
_VERSION = text("SELECT version_num FROM alembic_version")


async def ping(conn: AsyncConnection) -> None:
    """Raise unless the database answers a trivial query."""
    await conn.execute(text("SELECT 1"))


async def schema_version(conn: AsyncConnection) -> str | None:
    """The Alembic revision; None when the file has no killreport schema (no alembic_version)."""
    # Asked first rather than caught: a file another program made is not an error to recover from.
    if (await conn.execute(_VERSION_TABLE)).first() is None:
        return None
    return (await conn.execute(_VERSION)).scalar()


_p = t.sync_pending
_PENDING = select(
    _p.c.kind, func.count().label("pending"),
    func.count().filter(_p.c.claimed_until > NOW).label("in_flight"),
    func.count().filter(and_(_p.c.attempts > 0, or_(_p.c.claimed_until.is_(None),
                                                    _p.c.claimed_until <= NOW))).label("retrying"),
).group_by(_p.c.kind)


async def pending_counts(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    """Per kind: pending in all, in flight, retrying."""
    return {r.kind: {"pending": int(r.pending), "in_flight": int(r.in_flight), "retrying": int(r.retrying)}
            for r in await conn.execute(_PENDING)}


def _due() -> CompoundSelect[Any]:
    # freshness.py's `due`: SQLite's two-argument min() is NULL when either Expires is, which is
    # PostgreSQL's coalesce(..., '-infinity'): past Expires, with no age to report.
    a, c, ch = t.alliances.c, t.corporations.c, t.characters.c
    tomb = t.character_tombstones.c
    return union_all(
        select(literal("alliance").label("kind"),
               func.min(a.expires_at, a.members_expires_at).label("due_at")).where(a.closed_at.is_(None)),
        select(literal("corporation"), c.expires_at),
        select(literal("character"), ch.expires_at).where(~select(tomb.id).where(tomb.id == ch.id).exists()),
    )


_due_rows = _due().subquery("due")
_due_at = type_coerce(_due_rows.c.due_at, Float)
_FRESHNESS = select(
    _due_rows.c.kind, func.count().label("tracked"),
    func.count().filter(or_(_due_at.is_(None), _due_at < NOW_S)).label("past_expires"),
    (NOW_S - func.min(_due_at).filter(_due_at < NOW_S)).label("oldest_past_s"),
).group_by(_due_rows.c.kind)


async def freshness(conn: AsyncConnection) -> dict[str, Freshness]:
    """Freshness of every kind that has anything stored."""
    return {r.kind: Freshness(int(r.tracked), int(r.past_expires),
                              None if r.oldest_past_s is None else float(r.oldest_past_s))
            for r in await conn.execute(_FRESHNESS)}


_log = t.esi_request_log
_counted = func.json_each(bindparam("counts", type_=Text)).table_valued("value")
_ADD_STMT = upsert(_log).from_select(["minute", "route", "status", "count"], select(
    # The minute of now, floored (date_trunc): epoch seconds are positive, so CAST truncates down.
    sql_cast(NOW_S / 60, Integer) * 60.0,
    func.json_extract(_counted.c.value, "$[0]"), func.json_extract(_counted.c.value, "$[1]"),
    func.json_extract(_counted.c.value, "$[2]"),
).where(true()))  # WHERE: see jobs._MEMBERS_JOINED
_ADD = _ADD_STMT.on_conflict_do_update(
    index_elements=["minute", "route", "status"], set_={"count": _log.c.count + _ADD_STMT.excluded.count})


async def add_request_counts(conn: AsyncConnection, counts: Mapping[RouteStatus, int]) -> None:
    """Add counts by (route, status) to this minute's rows."""
    # One statement: every row lands in the same minute, and a flush is all or nothing.
    if not counts:
        return
    rows = [[route, status, n] for (route, status), n in sorted(counts.items())]
    await conn.execute(_ADD, {"counts": json.dumps(rows)})


_RECENT = select(_log.c.route, _log.c.status, func.sum(_log.c.count).label("n")).where(
    type_coerce(_log.c.minute, Float) > NOW_S - bindparam("seconds", type_=Float),
).group_by(_log.c.route, _log.c.status)


async def recent_requests(conn: AsyncConnection, seconds: float) -> dict[RouteStatus, int]:
    """Counts by (route, status) over the last `seconds` (whole minutes)."""
    result = await conn.execute(_RECENT, {"seconds": seconds})
    return {(r.route, int(r.status)): int(r.n) for r in result}
