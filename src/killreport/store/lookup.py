"""Read-only queries behind `killreport web`: records, the entities they name, lists, search, changes.

Everything a user types reaches SQL as a bound value, never as text (SQLAlchemy Core or constant
SQL). Every list has a total order (an id breaks each tie), so consecutive pages never overlap or
skip while nothing changes. Rows come back as plain dicts of column name → value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Select,
    Table,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store import tables as t
from killreport.store.dialects import Idioms, of

Row = dict[str, Any]
_KIND_ORDER: Final[Mapping[Kind, int]] = {"alliance": 0, "corporation": 1, "character": 2}
@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: its rows, whether another page follows, and the list's length if counted."""

    items: list[Row]
    more: bool
    total: int | None = None


async def _one(conn: AsyncConnection, query: Select[Any]) -> Row | None:
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else dict(row)


async def _page(conn: AsyncConnection, query: Select[Any], offset: int, limit: int) -> tuple[list[Row], bool]:
    # One row past the page tells whether another page follows, without a second query.
    rows = [dict(r) for r in (await conn.execute(query.offset(offset).limit(limit + 1))).mappings()]
    return rows[:limit], len(rows) > limit


def alliance_statement(alliance_id: int) -> Select[Any]:
    """An alliance's row with its member count and their pilots."""
    ac, c = t.alliance_corporations.c, t.corporations.c
    members = select(func.count()).where(ac.alliance_id == alliance_id).scalar_subquery()
    # sum(bigint) is numeric in PostgreSQL; no alliance has 2^63 pilots.
    pilots = (select(cast(func.coalesce(func.sum(c.member_count), 0), BigInteger))
              .select_from(t.alliance_corporations.join(t.corporations, c.id == ac.corporation_id))
              .where(ac.alliance_id == alliance_id).scalar_subquery())
    return select(t.alliances, members.label("member_corporations"),
                  pilots.label("member_pilots")).where(t.alliances.c.id == alliance_id)


async def alliance(conn: AsyncConnection, alliance_id: int) -> Row | None:
    """An alliance's row with its member count and their pilots, or None."""
    return await _one(conn, alliance_statement(alliance_id))


def corporation_statement(corporation_id: int) -> Select[Any]:
    """A corporation's row with the number of its characters in the copy."""
    ch = t.characters.c
    known = select(func.count()).where(ch.corporation_id == corporation_id).scalar_subquery()
    return (select(t.corporations, known.label("characters_known"))
            .where(t.corporations.c.id == corporation_id))


async def corporation(conn: AsyncConnection, corporation_id: int) -> Row | None:
    """A corporation's row with the number of its characters in the copy, or None."""
    return await _one(conn, corporation_statement(corporation_id))


def character_statement(character_id: int) -> Select[Any]:
    """A character's row with when it was seen deleted (None while it lives)."""
    d = t.character_tombstones.c
    seen = select(d.deleted_seen_at).where(d.id == character_id).scalar_subquery()
    return select(t.characters, seen.label("deleted_seen_at")).where(t.characters.c.id == character_id)


async def character(conn: AsyncConnection, character_id: int) -> Row | None:
    """A character's row with when it was seen deleted (None while it lives), or None."""
    return await _one(conn, character_statement(character_id))


def _names_of(table: Table, kind: Kind, ids: list[int]) -> Select[Any]:
    ticker = table.c.ticker if "ticker" in table.c else literal(None).label("ticker")
    return select(literal(kind).label("kind"), table.c.id, table.c.name, ticker.label("ticker")).where(
        table.c.id.in_(ids))


def names_statement(wanted: Iterable[tuple[Kind, int]]) -> CompoundSelect[Any] | None:
    """Name (and ticker) of each (kind, id) the copy holds, in one query (None: nothing wanted)."""
    by_kind: dict[Kind, list[int]] = {}
    for kind, entity_id in wanted:
        by_kind.setdefault(kind, []).append(entity_id)
    parts = [_names_of(t.ENTITY_TABLES[kind], kind, sorted(set(ids))) for kind, ids in by_kind.items()]
    return union_all(*parts) if parts else None


async def names(conn: AsyncConnection, wanted: Iterable[tuple[Kind, int]]) -> dict[tuple[Kind, int], Row]:
    """Name (and ticker) of each (kind, id) the copy holds, in one query; absent ones are left out."""
    statement = names_statement(wanted)
    if statement is None:
        return {}
    rows = (await conn.execute(statement)).mappings()
    return {(r["kind"], r["id"]): dict(r) for r in rows}


def members_statement(alliance_id: int, *, by_size: bool) -> Select[Any]:
    """An alliance's member corporations (those not yet in the copy too), by id or biggest first."""
    ac, c = t.alliance_corporations.c, t.corporations.c
    order = (c.member_count.desc().nulls_last(), ac.corporation_id) if by_size else (ac.corporation_id,)
    return (select(ac.corporation_id.label("id"), c.name, c.ticker, c.member_count)
            .select_from(t.alliance_corporations.outerjoin(t.corporations, c.id == ac.corporation_id))
            .where(ac.alliance_id == alliance_id).order_by(*order))


def members_count_statement(alliance_id: int) -> Select[Any]:
    """How many member corporations an alliance has."""
    ac = t.alliance_corporations.c
    return select(func.count()).where(ac.alliance_id == alliance_id)


async def alliance_members(conn: AsyncConnection, alliance_id: int, *, offset: int, limit: int,
                           by_size: bool = False, count: bool = True) -> Page:
    """Member corporations (those not yet in the copy too): by id, or biggest first when `by_size`.

    `count=False` leaves the total out (`alliance` has it), saving a round trip.
    """
    items, more = await _page(conn, members_statement(alliance_id, by_size=by_size), offset, limit)
    if not count:
        return Page(items, more)
    total = (await conn.execute(members_count_statement(alliance_id))).scalar_one()
    return Page(items, more, int(total))


def characters_statement(corporation_id: int) -> Select[Any]:
    """The characters the copy places in a corporation, by id, each with whether it was deleted."""
    ch, d = t.characters.c, t.character_tombstones.c
    # A scalar subquery, not EXISTS: PostgreSQL may answer an EXISTS in the select list by hashing
    # every tombstone (millions) for one page; this one is a probe of the key for each row shown.
    seen = select(d.deleted_seen_at).where(d.id == ch.id).scalar_subquery()
    deleted = seen.isnot(None).label("deleted")
    return (select(ch.id, ch.name, ch.corporation_title, deleted)
            .where(ch.corporation_id == corporation_id).order_by(ch.id))


def characters_count_statement(corporation_id: int) -> Select[Any]:
    """How many characters the copy places in a corporation."""
    return select(func.count()).where(t.characters.c.corporation_id == corporation_id)


async def corporation_characters(conn: AsyncConnection, corporation_id: int, *, offset: int,
                                 limit: int) -> Page:
    """The characters the copy places in a corporation, by id, each with whether it was deleted."""
    items, more = await _page(conn, characters_statement(corporation_id), offset, limit)
    total = (await conn.execute(characters_count_statement(corporation_id))).scalar_one()
    return Page(items, more, int(total))


def like_pattern(text_: str) -> str:
    """`text_` as a LIKE pattern that matches it anywhere, its own `%`, `_` and `\\` taken literally."""
    escaped = text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search_part(table: Table, kind: Kind, needle: ColumnElement[str], pattern: ColumnElement[str],
                 sql: Idioms) -> Select[Any]:
    name = func.lower(table.c.name)
    has_ticker = "ticker" in table.c
    ticker = func.lower(table.c.ticker) if has_ticker else None
    starts = sql.strpos(name, needle) == 1
    rank = case(*([(ticker == needle, 0)] if ticker is not None else []), (name == needle, 1),
                (starts, 2), else_=3)
    match = [name.like(pattern, escape="\\")]
    if ticker is not None:
        match.append(ticker.like(pattern, escape="\\"))
    return select(rank.label("rank"), literal(_KIND_ORDER[kind]).label("kind_order"),
                  literal(kind).label("kind"), table.c.id, table.c.name,
                  (table.c.ticker if has_ticker else literal(None)).label("ticker")).where(or_(*match))


async def search(conn: AsyncConnection, query_text: str, *, offset: int, limit: int) -> Page:
    """Alliances, corporations and characters whose name or ticker contains the text, any case.

    Order: exact ticker, exact name, name starting with it, the rest; then alliances before
    corporations before characters, then by name and id.
    """
    # Both sides fold by the database's rules. Case: SQLite's lower() folds ASCII letters only,
    # PostgreSQL's (in a UTF-8 database) every letter; EVE's names and tickers are ASCII as far as
    # we have seen, and tests/store/test_lookup_contract.py marks the difference for any other.
    needle = func.lower(literal(query_text))
    pattern = func.lower(literal(like_pattern(query_text)))
    sql = of(conn)
    parts = [_search_part(table, kind, needle, pattern, sql) for kind, table in t.ENTITY_TABLES.items()]
    found = union_all(*parts).subquery("found")
    ordered = select(found.c.kind, found.c.id, found.c.name, found.c.ticker, found.c.rank).order_by(
        found.c.rank, found.c.kind_order, func.lower(found.c.name), found.c.id)
    items, more = await _page(conn, ordered, offset, limit)
    return Page(items, more)


def _changes_query(since: dt.datetime | None, kind: Kind | None, entity_id: int | None) -> Select[Any]:
    c = t.changes.c
    where = [cond for cond in (
        None if since is None else c.observed_at >= since,
        None if kind is None else c.kind == kind,
        None if entity_id is None else c.entity_id == entity_id) if cond is not None]
    return select(c.id, c.kind, c.entity_id, c.field, c.old_value, c.new_value, c.observed_at).where(*where)


def changes_page_statement(since: dt.datetime | None = None, kind: Kind | None = None,
                           entity_id: int | None = None) -> Select[Any]:
    """Recorded changes matching time, kind and entity, in the order they were observed."""
    # By observed_at (the id breaks ties, and follows it within one writer): the order one index
    # gives with or without a time or a kind, where the id's order could not be read from the
    # kind's or the time's index without sorting every change they hold.
    return _changes_query(since, kind, entity_id).order_by(t.changes.c.observed_at, t.changes.c.id)


async def changes_page(conn: AsyncConnection, *, since: dt.datetime | None = None, kind: Kind | None = None,
                       entity_id: int | None = None, offset: int, limit: int) -> Page:
    """Recorded changes matching time, kind and entity, in the order they were observed."""
    items, more = await _page(conn, changes_page_statement(since, kind, entity_id), offset, limit)
    return Page(items, more)


def latest_changes_statement(kind: Kind | None, entity_id: int | None, limit: int) -> Select[Any]:
    """The newest `limit` recorded changes (of one entity, if given), newest first."""
    c = t.changes.c
    return _changes_query(None, kind, entity_id).order_by(c.observed_at.desc(), c.id.desc()).limit(limit)


async def latest_changes(conn: AsyncConnection, *, kind: Kind | None = None, entity_id: int | None = None,
                         limit: int) -> list[Row]:
    """The newest `limit` recorded changes (of one entity, if given), newest first."""
    query = latest_changes_statement(kind, entity_id, limit)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def request_rate(conn: AsyncConnection) -> Row:
    """ESI requests over the previous and the current minute: by status, in all, and per second.

    The window starts at the previous whole minute (esi_request_log keeps whole minutes): a rate
    that moves every poll, not once a minute."""
    sql, log = of(conn), t.esi_request_log.c
    start = sql.last_minute()
    query = select(log.status, func.coalesce(func.sum(log.count), 0).label("n")).where(
        log.minute >= start).group_by(log.status)
    by_status = {int(r.status): int(r.n) for r in await conn.execute(query)}
    span = float((await conn.execute(select(sql.age(start)))).scalar_one())
    total = sum(by_status.values())
    return {"window_s": round(span, 1), "requests": total, "per_s": round(total / span, 1) if span else 0.0,
            "by_status": by_status}
