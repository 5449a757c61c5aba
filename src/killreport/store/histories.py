"""HistoryQueries, both stores: fetched histories kept as intervals and the questions they answer;
the daily snapshots and trends are store/snapshots.py's (re-exported here for the seam).

Every answer reads the interval tables store/history_rows.py rebuilds from each fetched history
(employment_intervals: character → corporation; membership_intervals: corporation → alliance), by
their key or the holder's indexes. A stay holds `at` when start <= at < end (end None: still). The
statements are the same on both dialects: plain Core, times bound as parameters.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store import tables as t
from killreport.store.lookup import Row
from killreport.store.snapshots import take_snapshots, trend

__all__ = ["alliance_members_at", "character_history", "corporation_history", "corporation_members_at",
           "joined_left", "take_snapshots", "trend", "where_at"]

_E: Final = t.employment_intervals
_M: Final = t.membership_intervals
_AT = bindparam("at", type_=t.TIMESTAMP)
_ID = bindparam("id", type_=BigInteger)


def _holds(table: Table) -> ColumnElement[bool]:
    """The stay holds :at (its start included, its end not)."""
    return and_(table.c.start <= _AT, or_(table.c.end.is_(None), table.c.end > _AT))


def _history_statement(table: Table, owner: str, holder: str) -> Select[Any]:
    return (select(table.c[holder], table.c.start, table.c.end, table.c.record_id)
            .where(table.c[owner] == _ID).order_by(table.c.start.desc()))


CHARACTER_HISTORY: Final = _history_statement(_E, "character_id", "corporation_id")
CORPORATION_HISTORY: Final = _history_statement(_M, "corporation_id", "alliance_id")
# The alliance is the corporation's at the same moment, from its own intervals (None: no alliance
# then, or no alliance history known for that time).
WHERE_AT: Final = (select(_E.c.corporation_id, _M.c.alliance_id)
                 .select_from(_E.outerjoin(_M, and_(_M.c.corporation_id == _E.c.corporation_id, _holds(_M))))
                 .where(_E.c.character_id == _ID, _holds(_E)))
ALLIANCE_MEMBERS_AT: Final = (select(_M.c.corporation_id).where(_M.c.alliance_id == _ID, _holds(_M))
                            .order_by(_M.c.corporation_id))
CORPORATION_MEMBERS_AT: Final = (select(_E.c.character_id).where(_E.c.corporation_id == _ID, _holds(_E))
                               .order_by(_E.c.character_id))


async def _rows(conn: AsyncConnection, statement: Select[Any], params: dict[str, Any]) -> list[Row]:
    return [dict(r) for r in (await conn.execute(statement, params)).mappings()]


async def character_history(conn: AsyncConnection, character_id: int) -> list[Row]:
    """A character's employment, newest first: corporation_id, start, end, record_id."""
    return await _rows(conn, CHARACTER_HISTORY, {"id": character_id})


async def corporation_history(conn: AsyncConnection, corporation_id: int) -> list[Row]:
    """A corporation's alliance membership, newest first: alliance_id (None: outside any), start, end,
    record_id."""
    return await _rows(conn, CORPORATION_HISTORY, {"id": corporation_id})


async def where_at(conn: AsyncConnection, character_id: int, at: dt.datetime) -> Row | None:
    """Where a character was at `at`: corporation_id and its alliance_id then (None: no history covers it)."""
    found = await _rows(conn, WHERE_AT, {"id": character_id, "at": _utc(at)})
    return found[0] if found else None


async def alliance_members_at(conn: AsyncConnection, alliance_id: int, at: dt.datetime) -> list[int]:
    """The corporations in an alliance at `at`, by id."""
    found = await conn.execute(ALLIANCE_MEMBERS_AT, {"id": alliance_id, "at": _utc(at)})
    return [int(i) for i in found.scalars()]


async def corporation_members_at(conn: AsyncConnection, corporation_id: int, at: dt.datetime) -> list[int]:
    """The characters the copy knows were in a corporation at `at`, by id."""
    found = await conn.execute(CORPORATION_MEMBERS_AT, {"id": corporation_id, "at": _utc(at)})
    return [int(i) for i in found.scalars()]


@functools.cache
def feed_statement(kind: Kind) -> Select[Any]:
    """Stays that began or ended in [:since, :until) in alliance or corporation :id, oldest first."""
    table, member, holder = (_M, "corporation_id", "alliance_id") if kind == "alliance" else (
        _E, "character_id", "corporation_id")
    since, until = bindparam("since", type_=t.TIMESTAMP), bindparam("until", type_=t.TIMESTAMP)
    # Two range scans of the holder's (holder, start) and (holder, end) indexes.
    joined = select(table.c[member].label("member_id"), literal("joined").label("event"),
                    table.c.start.label("at")).where(table.c[holder] == _ID, table.c.start >= since,
                                                     table.c.start < until)
    left = select(table.c[member].label("member_id"), literal("left").label("event"),
                  table.c.end.label("at")).where(table.c[holder] == _ID, table.c.end >= since,
                                                 table.c.end < until)
    feed = union_all(joined, left).subquery("feed")
    # At one moment, a leaving before a joining (a member that left and came back reads in order).
    return select(feed).order_by(feed.c.at, feed.c.event.desc(), feed.c.member_id)


async def joined_left(conn: AsyncConnection, kind: Kind, entity_id: int, *, since: dt.datetime,
                      until: dt.datetime) -> list[Row]:
    """Who joined and who left an alliance (corporations) or a corporation (characters) in [since,
    until): member_id, event ("joined" or "left"), at; oldest first."""
    if kind == "character":
        raise ValueError("joined and left are asked of an alliance or a corporation, not a character")
    params = {"id": entity_id, "since": _utc(since), "until": _utc(until)}
    return await _rows(conn, feed_statement(kind), params)


def _utc(when: dt.datetime) -> dt.datetime:
    """An aware time (a naive one is taken as UTC, as ESI's dates are)."""
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
