"""Daily snapshots of every alliance and corporation, and the trends they give, both stores.

A day's snapshot is one row per open alliance whose member list the copy holds and per active
corporation: ESI's `member_count` for a corporation; for an alliance the sum of its member
corporations' counts (those the copy holds, as the alliance page adds them) and how many
corporations ESI lists. Closed ones are left out: ESI no longer counts them, and a row of zeros a
day for each, kept forever, would only grow the table. A day is taken once: one statement inserts
every row unless that day has any, and a row already there is kept (two leaders in one moment
write one row each). A day nobody took stays missing: nothing here makes one up afterwards.

Trends are the stored rows of the last `days` days (the database's UTC date is today), each with
its change since 7 and 30 days before, computed from the rows themselves: None where that older
day has no row, never interpolated.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    Select,
    bindparam,
    cast,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store import tables as t
from killreport.store.dialects import Idioms, of
from killreport.store.lookup import Row

# The deltas a trend row carries, by the age of the day they compare with.
DELTAS: Final = (7, 30)
_S: Final = t.entity_snapshots.c
_COLUMNS: Final = ("kind", "entity_id", "day", "member_count", "corporation_count", "taken_at")


def _day() -> Any:
    return bindparam("day", type_=Date)


def _corporations(sql: Idioms) -> Select[Any]:
    c = t.corporations.c
    return select(literal("corporation").label("kind"), c.id.label("entity_id"), _day().label("day"),
                  c.member_count.label("member_count"),
                  cast(literal(None), Integer).label("corporation_count"), sql.now().label("taken_at")
                  ).where(c.state != "closed")


def _alliances(sql: Idioms) -> Select[Any]:
    a, ac, c = t.alliances.c, t.alliance_corporations.c, t.corporations.c
    # sum(bigint) is numeric in PostgreSQL; a member ESI lists that the copy lacks counts no pilots.
    pilots = cast(func.coalesce(func.sum(c.member_count), 0), BigInteger)
    joined = (t.alliances.outerjoin(t.alliance_corporations, ac.alliance_id == a.id)
              .outerjoin(t.corporations, c.id == ac.corporation_id))
    return (select(literal("alliance").label("kind"), a.id.label("entity_id"), _day().label("day"),
                   pilots.label("member_count"), cast(func.count(ac.corporation_id), Integer)
                   .label("corporation_count"), sql.now().label("taken_at"))
            .select_from(joined)
            .where(a.closed_at.is_(None), a.members_fetched_at.isnot(None))
            .group_by(a.id))


@functools.cache
def _take_statement(sql: Idioms) -> Any:
    rows = union_all(_corporations(sql), _alliances(sql)).subquery("rows")
    taken = exists().where(_S.day == _day())
    # The WHERE also keeps SQLite from reading the upsert's ON as a join's.
    chosen = select(*(rows.c[name] for name in _COLUMNS)).where(~taken)
    return (sql.insert(t.entity_snapshots).from_select(list(_COLUMNS), chosen)
            .on_conflict_do_nothing(index_elements=["kind", "entity_id", "day"]))


async def take_snapshots(conn: AsyncConnection, day: dt.date) -> int:
    """One row per alliance and corporation for `day`, unless that day has any; the rows written."""
    result = await conn.execute(_take_statement(of(conn)), {"day": day})
    return max(int(result.rowcount or 0), 0)


@functools.cache
def _today_statement(sql: Idioms) -> Select[Any]:
    return select(sql.now())


@functools.cache
def rows_statement() -> Select[Any]:
    """The snapshots of :kind :id from day :since to :until, oldest first."""
    return (select(_S.day, _S.member_count, _S.corporation_count)
            .where(_S.kind == bindparam("kind"), _S.entity_id == bindparam("id", type_=BigInteger),
                   _S.day >= bindparam("since", type_=Date), _S.day <= bindparam("until", type_=Date))
            .order_by(_S.day))


async def trend(conn: AsyncConnection, kind: Kind, entity_id: int, *, days: int) -> list[Row]:
    """Snapshots of the last `days` days with 7- and 30-day deltas, oldest first."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    now: dt.datetime = (await conn.execute(_today_statement(of(conn)))).scalar_one()
    today = now.astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    older = first - dt.timedelta(days=max(DELTAS))
    rows = (await conn.execute(rows_statement(), {"kind": kind, "id": entity_id, "since": older,
                                                   "until": today})).mappings().all()
    return _with_deltas([dict(r) for r in rows], first)


def _with_deltas(rows: list[Row], first: dt.date) -> list[Row]:
    """The rows from `first` on, each with `delta_N`: its member count less that of N days before
    (None when that day has no row)."""
    counts = {r["day"]: r["member_count"] for r in rows}
    shown = []
    for row in rows:
        if row["day"] < first:
            continue
        for age in DELTAS:
            before = counts.get(row["day"] - dt.timedelta(days=age))
            row[f"delta_{age}"] = None if before is None else row["member_count"] - before
        shown.append(row)
    return shown
