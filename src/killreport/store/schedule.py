"""ScheduleQueries, both stores: the lock and lease, what is due, the alliance list, the sweep's reads
and writes, each statement written once and given the connection's idioms (store/dialects.py).

Times come from the database's clock wherever the database decides, so the machines' clocks do not
have to agree (SQLite's clock is the machine's: only processes on this machine open the file).

The one difference that is not an idiom is how a second scheduler is kept out (`_LOCKS`):

    PostgreSQL  an advisory lock held by the leader's connection; `Leader.locked` says whether some
                connection holds it now
    SQLite      the scheduler runs only inside the process that holds the file's runner lock (a
                flock), so there is nothing to take: `try_lock` is True, `unlock` does nothing, and
                `locked` is a recent heartbeat (a query cannot see the runner lock)
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Executable,
    Float,
    Integer,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    column,
    delete,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.changes import Change
from killreport.config import Settings
from killreport.domain.schedule import Affiliated, Move, Rhythm, StoredAlliance
from killreport.ids import Kind
from killreport.store import changes
from killreport.store import tables as t
from killreport.store.dialects import POSTGRES, SQLITE, Idioms, of
from killreport.store.http_cache import ALLIANCE_LIST as ALLIANCE_LIST  # re-exported: written once there

# ---- the lock and the lease ----------------------------------------------------------------------

# The advisory lock only one scheduler holds ("killrept"); advisory locks are per database, so
# several killreport databases on one server do not contend.
LOCK_KEY: Final = 0x6B696C6C_72657074
# On SQLite a lease is "locked" (its scheduler alive) while its heartbeat is younger than this many
# default heartbeat intervals (SCHEDULER_HEARTBEAT_S, 3 s): one late beat is not a dead scheduler; a
# scheduler set to beat less often than every 9 s shows as not leading late in each interval.
LEASE_BEATS: Final = 3
_HEARTBEAT_S: Final = float(Settings.model_fields["scheduler_heartbeat_s"].default)
_lease = t.scheduler_lease


@dataclass(frozen=True, slots=True)
class _Lock:
    """How one dialect keeps a second scheduler out (None: nothing to take or give back), and what
    `leader` reads beside the lease to tell whether a scheduler leads now."""

    take: Executable | None
    give: Executable | None
    held: ColumnElement[bool]


_KEY = literal(LOCK_KEY, BigInteger)
# pg_locks shows a bigint advisory key as its high and low 32 bits (LOCK_KEY's), with objsubid 1.
assert LOCK_KEY == (1802071148 << 32) | 1919250548
_ADVISORY_HELD: ColumnElement[bool] = literal_column(
    "EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
    " WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.granted"
    " AND l.classid::bigint = 1802071148 AND l.objid::bigint = 1919250548 AND l.objsubid = 1)", Boolean)
_LOCKS: Final = {
    POSTGRES.name: _Lock(select(func.pg_try_advisory_lock(_KEY)), select(func.pg_advisory_unlock(_KEY)),
                         _ADVISORY_HELD),
    SQLITE.name: _Lock(None, None, SQLITE.age(_lease.c.heartbeat_at) < LEASE_BEATS * _HEARTBEAT_S),
}


@dataclass(frozen=True, slots=True)
class Leader:
    """The scheduler lease: who holds it, since when, its last heartbeat, and whether the lock is held now."""

    holder: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    heartbeat_age_s: float
    locked: bool


@functools.cache
def _leader_statement(sql: Idioms) -> Select[Any]:
    return select(_lease.c.holder, _lease.c.started_at, _lease.c.heartbeat_at,
                  sql.age(_lease.c.heartbeat_at).label("age_s"), _LOCKS[sql.name].held.label("locked")
                  ).where(_lease.c.id == 1)


@functools.cache
def _claim_statement(sql: Idioms) -> Any:
    stmt = sql.insert(_lease).values(id=1, holder=bindparam("holder", type_=Text), started_at=sql.now(),
                                     heartbeat_at=sql.now())
    return stmt.on_conflict_do_update(index_elements=[_lease.c.id], set_={
        "holder": stmt.excluded.holder, "started_at": stmt.excluded.started_at,
        "heartbeat_at": stmt.excluded.heartbeat_at})


# Not named `holder`: a parameter named like a column would join an UPDATE's SET.
_HOLDER: Final = and_(_lease.c.id == 1, _lease.c.holder == bindparam("lease_holder", type_=Text))
_DROP_LEASE: Final = delete(_lease).where(_HOLDER)


@functools.cache
def _heartbeat_statement(sql: Idioms) -> Any:
    return update(_lease).where(_HOLDER).values(heartbeat_at=sql.now())


async def leader(conn: AsyncConnection) -> Leader | None:
    """The last scheduler to lead (None if none ever did); `locked` says whether one leads right now."""
    row = (await conn.execute(_leader_statement(of(conn)))).first()
    if row is None:
        return None
    return Leader(row.holder, row.started_at, row.heartbeat_at, float(row.age_s), bool(row.locked))


async def try_lock(conn: AsyncConnection) -> bool:
    """Take the scheduler lock for this connection if nobody holds it."""
    take = _LOCKS[conn.dialect.name].take
    return take is None or bool((await conn.execute(take)).scalar_one())


async def unlock(conn: AsyncConnection) -> None:
    """Give the scheduler lock back (closing the connection does too)."""
    give = _LOCKS[conn.dialect.name].give
    if give is not None:
        await conn.execute(give)


async def claim_lease(conn: AsyncConnection, holder: str) -> None:
    """Write who leads now and since when."""
    await conn.execute(_claim_statement(of(conn)), {"holder": holder})


async def heartbeat(conn: AsyncConnection, holder: str) -> bool:
    """Renew the lease; False if the row is no longer this holder's."""
    return bool((await conn.execute(_heartbeat_statement(of(conn)), {"lease_holder": holder})).rowcount)


async def drop_lease(conn: AsyncConnection, holder: str) -> None:
    """Remove the lease on a clean stop, if it is still this holder's."""
    await conn.execute(_DROP_LEASE, {"lease_holder": holder})


# ---- what is due -------------------------------------------------------------------------------

_MIN_AGE = bindparam("min_age", type_=Float)
_DORMANT_AGE = bindparam("dormant_age", type_=Float)
_KILL_WINDOW = bindparam("kill_window", type_=Float)
_FAILED_HOLD = bindparam("failed_hold", type_=Float)


def _last_check(table: Table, prefix: str) -> ColumnElement[Any]:
    # A 304 moves checked_at only; rows from before checked_at existed have fetched_at.
    return t.last_check(table, prefix)


def _expired(table: Table, prefix: str, sql: Idioms) -> ColumnElement[bool]:
    column_ = table.c[f"{prefix}expires_at"]
    return or_(column_.is_(None), column_ <= sql.now())


def _due_resource(table: Table, prefix: str, sql: Idioms) -> ColumnElement[bool]:
    """Past Expires and not checked within the minimum age."""
    last = _last_check(table, prefix)
    aged = or_(last.is_(None), last <= sql.ago(_MIN_AGE))
    return and_(_expired(table, prefix, sql), aged)


def _final_fetch(prefix: str, sql: Idioms) -> ColumnElement[bool]:
    """A closed alliance's resource not checked since it closed: fetched once more, at its Expires."""
    a, last = t.alliances, _last_check(t.alliances, prefix)
    return and_(_expired(a, prefix, sql), or_(last.is_(None), last < a.c.closed_at))


def _tracked(kind: Kind) -> ColumnElement[bool]:
    """Entities the scheduler keeps fresh: not closed alliances, not deleted characters."""
    table = t.ENTITY_TABLES[kind]
    if kind == "alliance":
        return table.c.closed_at.is_(None)
    if kind == "character":
        return ~exists().where(t.character_tombstones.c.id == table.c.id)
    return true()


def _not_waiting(kind: Kind, sql: Idioms) -> ColumnElement[bool]:
    """Not pending, and no job failed on it within the failure hold (Rhythm.failed_after_s).

    A failed job (a 404, a dead letter) leaves the row as it was, past its Expires; without the
    second rule the entity would be due again at the next tick, every tick, each try spending a
    unit of the error limit.
    """
    table, p, f = t.ENTITY_TABLES[kind], t.sync_pending, t.sync_failures
    recent = sql.ago(_FAILED_HOLD)
    return and_(~exists().where(p.c.kind == kind, p.c.id == table.c.id),
                ~exists().where(f.c.kind == kind, f.c.id == table.c.id, f.c.failed_at > recent))


def _wanted(flag: ColumnElement[bool], expires: ColumnElement[Any], sql: Idioms) -> list[ColumnElement[bool]]:
    """A flagged resource past its Expires (or with none), as two alternatives: each then reads the
    flag's partial index on that Expires (an OR of the two reads neither on SQLite)."""
    return [and_(flag, expires.is_(None)), and_(flag, expires <= sql.now())]


def _history_due(table: Table, sql: Idioms) -> list[ColumnElement[bool]]:
    """The history is wanted (first stored, or seen moving) and past its own Expires; no minimum age:
    a history is fetched only when wanted, and the flag is cleared by the fetch."""
    return _wanted(table.c[f"{t.HISTORY_PREFIX}wanted"], table.c[f"{t.HISTORY_PREFIX}expires_at"], sql)


def _tiers(kind: Kind, sql: Idioms) -> list[ColumnElement[bool]]:
    """The ways a character's or corporation's own resource falls due, past its Expires, each led by
    a condition an index finds (store/tables.py): every row past the longest age (the last check),
    alliance members past the active age (their partial index), corporations a kill named lately
    (the kill time's index), a character a sweep or a kill saw moving (its partial index)."""
    table = t.ENTITY_TABLES[kind]
    expired, last = _expired(table, "", sql), _last_check(table, "")
    if kind == "character":
        return [and_(last <= sql.ago(_MIN_AGE), expired),
                *_wanted(table.c[t.DETAIL_WANTED], table.c.expires_at, sql)]
    # The kill tier's age is a filter (sql.filtered): nearly every row is past the active age, so
    # reading the last-check index for it would read nearly the whole table.
    aged = last <= sql.ago(_MIN_AGE)
    return [and_(last <= sql.ago(_DORMANT_AGE), expired),
            and_(table.c.alliance_id.isnot(None), aged, expired),
            and_(table.c[t.SEEN_ON_KILL_AT] > sql.ago(_KILL_WINDOW), sql.filtered(aged), expired)]


def _due(kind: Kind, sql: Idioms, history: bool) -> list[ColumnElement[bool]]:
    """The due rule as alternatives, each found by its own index: their union is what is due.

    One OR would be the same rows, but SQLite reads an OR of such terms by walking the expires_at
    index whole (PostgreSQL ORs the indexes' bitmaps); a UNION reads each from its index on both."""
    table = t.ENTITY_TABLES[kind]
    waiting = _not_waiting(kind, sql)
    if kind != "alliance":
        stale = [*_tiers(kind, sql), *(_history_due(table, sql) if history else [])]
        return [and_(_tracked(kind), tier, waiting) for tier in stale]
    members = t.MEMBERS_PREFIX
    open_due = and_(_tracked(kind), or_(_due_resource(table, "", sql), _due_resource(table, members, sql)))
    final = and_(table.c.closed_at.isnot(None), or_(_final_fetch("", sql), _final_fetch(members, sql)))
    return [and_(or_(open_due, final), waiting)]


def _due_rows(kind: Kind, sql: Idioms, history: bool) -> Any:
    """The due rows' ids and the Expires they are ordered by (an alliance's older resource's)."""
    table = t.ENTITY_TABLES[kind]
    oldest = (sql.least(table.c.expires_at, table.c.members_expires_at) if kind == "alliance"
              else table.c.expires_at)
    return union(*(select(table.c.id, oldest.label("oldest")).where(rule)
                   for rule in _due(kind, sql, history))).subquery("due")


@functools.cache
def tracked_statement(kind: Kind) -> Select[Any]:
    """How many entities of `kind` the scheduler keeps fresh (any dialect)."""
    return select(func.count()).select_from(t.ENTITY_TABLES[kind]).where(_tracked(kind))


@functools.cache
def active_statement(sql: Idioms = POSTGRES) -> Select[Any]:
    """How many corporations are active: alliance members and those a kill named lately (parameter:
    kill_window); a union, each read from its index."""
    co = t.corporations.c
    active = union(select(co.id).where(co.alliance_id.isnot(None)),
                   select(co.id).where(co[t.SEEN_ON_KILL_AT] > sql.ago(_KILL_WINDOW))).subquery("active")
    return select(func.count()).select_from(active)


@functools.cache
def due_count_statement(kind: Kind, sql: Idioms = POSTGRES, history: bool = True) -> Select[Any]:
    """How many entities of `kind` are due, a wanted history counting if `history` (parameters:
    Rhythm.params)."""
    # Counting only the due rows: each tier's index finds its few (the expires_at index took 0.6 ms
    # for 31,000 characters of which 50 were due, where counting beside the tracked total took 60 ms).
    return select(func.count()).select_from(_due_rows(kind, sql, history))


@functools.cache
def due_statement(kind: Kind, sql: Idioms = POSTGRES, history: bool = True) -> Select[Any]:
    """Due ids of `kind`, oldest Expires first (parameters: Rhythm.params, limit)."""
    due = _due_rows(kind, sql, history)
    return (select(due.c.id).order_by(due.c.oldest.asc().nulls_first(), due.c.id)
            .limit(bindparam("limit")))


def _rhythm(given: float | Rhythm) -> Rhythm:
    return given if isinstance(given, Rhythm) else Rhythm(given)


async def tracked(conn: AsyncConnection, kind: Kind) -> int:
    """How many entities of `kind` the scheduler keeps fresh (a full count: not for every tick)."""
    return int((await conn.execute(tracked_statement(kind))).scalar_one())


async def active_corporations(conn: AsyncConnection, kill_window_s: float) -> int:
    """How many corporations are alliance members or were named by a kill within `kill_window_s`."""
    statement = active_statement(of(conn))
    return int((await conn.execute(statement, {"kill_window": kill_window_s})).scalar_one())


async def due_count(conn: AsyncConnection, kind: Kind, rhythm: float | Rhythm, *,
                    history: bool = True) -> int:
    """How many entities of `kind` are due and not pending (a wanted history counting if `history`);
    `rhythm` a bare number is one minimum age for every row of the kind."""
    statement = due_count_statement(kind, of(conn), history)
    return int((await conn.execute(statement, _rhythm(rhythm).params())).scalar_one())


async def due_ids(conn: AsyncConnection, kind: Kind, rhythm: float | Rhythm, limit: int, *,
                  history: bool = True) -> list[int]:
    """Up to `limit` due, not pending entities of `kind`, oldest Expires first."""
    if limit <= 0:
        return []
    params = {**_rhythm(rhythm).params(), "limit": limit}
    result = await conn.execute(due_statement(kind, of(conn), history), params)
    return [int(r.id) for r in result]


# ---- the alliance list ---------------------------------------------------------------------------

_h = t.http_cache.c
_a = t.alliances.c
_THE_LIST: Final = _h.path == ALLIANCE_LIST
_TOUCH_LIST: Final = update(t.http_cache).where(_THE_LIST)
_ALLIANCES: Final = select(_a.id, _a.closed_at.isnot(None).label("closed"), _a.date_founded)


@functools.cache
def _list_statement(sql: Idioms) -> Select[Any]:
    last = func.coalesce(_h.checked_at, _h.fetched_at)
    due = and_(or_(_h.expires_at.is_(None), _h.expires_at <= sql.now()),
               or_(last.is_(None), last <= sql.ago(_MIN_AGE)))
    return select(_h.body, _h.etag, _h.last_modified, due.label("due")).where(_THE_LIST)


@functools.cache
def _hold_list_statement(sql: Idioms) -> Any:
    until = bindparam("until", type_=t.TIMESTAMP)
    return update(t.http_cache).where(_THE_LIST).values(expires_at=sql.greatest(_h.expires_at, until))


@functools.cache
def _closing_statement(sql: Idioms, close: bool) -> Any:
    """Close (or reopen) the alliances among :ids that are open (closed); returns their ids."""
    state = _a.closed_at.is_(None) if close else _a.closed_at.isnot(None)
    return (update(t.alliances).where(_a.id.in_(select(sql.ids("ids"))), state)
            .values(closed_at=sql.now() if close else None).returning(_a.id))


@functools.cache
def missing_statement(kind: Kind, sql: Idioms) -> Select[Any]:
    """Which of :ids are not stored as `kind`, by id."""
    wanted = sql.ids("ids")
    table = t.ENTITY_TABLES[kind]
    return select(wanted.label("id")).where(~exists().where(table.c.id == wanted)).order_by(wanted)


@dataclass(frozen=True, slots=True)
class ListCache:
    """The stored GET /alliances: its ids, what a conditional request needs, and whether it is due."""

    ids: list[int]
    etag: str | None
    last_modified: dt.datetime | None
    due: bool


async def alliance_list(conn: AsyncConnection, min_age_s: float) -> ListCache | None:
    """The stored alliance list, or None if it was never fetched."""
    row = (await conn.execute(_list_statement(of(conn)), {"min_age": min_age_s})).first()
    if row is None:
        return None
    return ListCache([int(i) for i in row.body], row.etag, row.last_modified, bool(row.due))


async def touch_list(conn: AsyncConnection, expires_at: dt.datetime | None, checked_at: dt.datetime) -> None:
    """A 304 for the list: it is current until `expires_at`; nothing else moves."""
    await conn.execute(_TOUCH_LIST, {"expires_at": expires_at, "checked_at": checked_at})


async def hold_list(conn: AsyncConnection, expires_at: dt.datetime) -> None:
    """An unusable answer for the list came with this Expires: not asked for again before it."""
    await conn.execute(_hold_list_statement(of(conn)), {"until": expires_at})


async def stored_alliances(conn: AsyncConnection) -> dict[int, StoredAlliance]:
    """Every stored alliance, closed or not."""
    return {int(r.id): StoredAlliance(bool(r.closed), r.date_founded)
            for r in await conn.execute(_ALLIANCES)}


async def close_alliances(conn: AsyncConnection, ids: Iterable[int]) -> list[int]:
    """Mark open alliances closed (now); returns those that were open."""
    sql = of(conn)
    return sorted(int(r.id) for r in await conn.execute(_closing_statement(sql, True),
                                                        {"ids": sql.id_list(ids)}))


async def reopen_alliances(conn: AsyncConnection, ids: Iterable[int]) -> list[int]:
    """Un-mark closed alliances; returns those that were closed."""
    sql = of(conn)
    return sorted(int(r.id) for r in await conn.execute(_closing_statement(sql, False),
                                                        {"ids": sql.id_list(ids)}))


async def missing(conn: AsyncConnection, kind: Kind, ids: Iterable[int]) -> list[int]:
    """Which of `ids` are not stored as `kind` (an alliance or a corporation)."""
    sql, wanted = of(conn), set(ids)
    if not wanted:
        return []
    result = await conn.execute(missing_statement(kind, sql), {"ids": sql.id_list(wanted)})
    return [int(r.id) for r in result]


# ---- the affiliation sweep -----------------------------------------------------------------------

SWEEP_STARTED: Final = "affiliation_sweep_started"
SWEEP_NOT_BEFORE: Final = "affiliation_not_before"
_m = t.scheduler_marks.c
_c = t.characters.c
# The next page of a sweep: a range of the key from :after, so each call reads its own 1,000 ids.
SWEEP_IDS: Final = (select(_c.id).where(_c.id > bindparam("after", type_=BigInteger),
                                        ~exists().where(t.character_tombstones.c.id == _c.id))
                    .order_by(_c.id).limit(bindparam("limit", type_=Integer)))
_MOVE_COLUMNS: Final = tuple(column(name, BigInteger) for name in (
    "id", "old_corporation_id", "old_alliance_id", "corporation_id", "alliance_id"))


def _mark(name: str) -> Any:
    return select(_m.at).where(_m.name == name).scalar_subquery()


@functools.cache
def _marks_statement(sql: Idioms) -> Select[Any]:
    return select(sql.now().label("db_now"), _mark(SWEEP_STARTED).label("started"),
                  _mark(SWEEP_NOT_BEFORE).label("not_before"))


@functools.cache
def _mark_statement(sql: Idioms, raise_only: bool) -> Any:
    """Set mark :name to now, or (raise_only) to :at unless it is later already."""
    at = bindparam("at", type_=t.TIMESTAMP) if raise_only else sql.now()
    stmt = sql.insert(t.scheduler_marks).values(name=bindparam("name", type_=Text), at=at)
    to = sql.greatest(_m.at, stmt.excluded.at) if raise_only else stmt.excluded.at
    return stmt.on_conflict_do_update(index_elements=[_m.name], set_={"at": to})


@functools.cache
def affiliations_statement(sql: Idioms) -> Select[Any]:
    """Where the copy says the characters among :ids are."""
    return select(_c.id, _c.corporation_id, _c.alliance_id).where(_c.id.in_(select(sql.ids("ids"))))


@functools.cache
def move_statement(sql: Idioms) -> Any:
    """Move the characters of :moves whose row still says where the sweep found them; returns their ids."""
    moved = sql.records("moves", _MOVE_COLUMNS)
    # Compare-and-set: a job that stored the character meanwhile wins, and no change is recorded twice.
    # A new corporation makes the character's history stale (wanted again, in the same statement);
    # any move makes its details wanted at their Expires (a title or a name may have gone with it).
    return (update(t.characters)
            .values(corporation_id=moved.c.corporation_id, alliance_id=moved.c.alliance_id,
                    history_wanted=or_(_c.history_wanted,
                                       moved.c.corporation_id != moved.c.old_corporation_id),
                    **{t.DETAIL_WANTED: true()})
            .where(_c.id == moved.c.id, _c.corporation_id == moved.c.old_corporation_id,
                   _c.alliance_id.is_not_distinct_from(moved.c.old_alliance_id))
            .returning(_c.id))


@dataclass(frozen=True, slots=True)
class SweepMarks:
    """When the last sweep started, when its answers expire, and the database's time now."""

    now: dt.datetime
    started: dt.datetime | None
    not_before: dt.datetime | None


async def sweep_marks(conn: AsyncConnection) -> SweepMarks:
    """The sweep's marks (kept in the database so a new leader continues the rhythm)."""
    row = (await conn.execute(_marks_statement(of(conn)))).one()
    return SweepMarks(row.db_now, row.started, row.not_before)


async def mark_sweep_started(conn: AsyncConnection) -> None:
    """A sweep starts now."""
    await conn.execute(_mark_statement(of(conn), False), {"name": SWEEP_STARTED})


async def hold_sweep_until(conn: AsyncConnection, expires_at: dt.datetime) -> None:
    """No sweep before `expires_at` (the latest Expires of any affiliation answer wins)."""
    await conn.execute(_mark_statement(of(conn), True), {"name": SWEEP_NOT_BEFORE, "at": expires_at})


async def sweep_ids(conn: AsyncConnection, *, after: int, limit: int) -> list[int]:
    """The first `limit` stored characters after id `after` that are not known deleted, by id."""
    return [int(r.id) for r in await conn.execute(SWEEP_IDS, {"after": after, "limit": limit})]


async def affiliations(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Affiliated]:
    """Where the copy says these characters are."""
    sql = of(conn)
    result = await conn.execute(affiliations_statement(sql), {"ids": sql.id_list(ids)})
    return {int(r.id): Affiliated(int(r.corporation_id), r.alliance_id) for r in result}


@functools.cache
def corporations_moved_statement(sql: Idioms) -> Any:
    """Corporations among :ids whose stored alliance differs from the one a sweep saw them in: their
    alliance history is wanted again (the corporation's own refresh will store the move itself)."""
    seen = sql.records("seen", (column("id", BigInteger), column("alliance_id", BigInteger)))
    co = t.corporations.c
    return (update(t.corporations).values(history_wanted=true())
            .where(co.id == seen.c.id, ~co.alliance_id.is_not_distinct_from(seen.c.alliance_id)))


async def apply_moves(conn: AsyncConnection, moves: Sequence[Move]) -> set[int]:
    """Move characters whose row still says where `moves` found them; returns those moved.

    In the same transaction, the histories the moves made stale are wanted: a character's that
    changed corporation, a corporation's whose alliance is not the one stored."""
    if not moves:
        return set()
    sql = of(conn)
    rows = [dict(zip((c.name for c in _MOVE_COLUMNS), (
        m.character_id, m.old.corporation_id, m.old.alliance_id, m.new.corporation_id, m.new.alliance_id),
        strict=True)) for m in moves]
    moved = {int(r.id) for r in await conn.execute(move_statement(sql), {"moves": sql.record_list(rows)})}
    seen = {m.new.corporation_id: m.new.alliance_id for m in moves if m.character_id in moved}
    if seen:
        await conn.execute(corporations_moved_statement(sql), {"seen": sql.record_list(
            [{"id": c, "alliance_id": a} for c, a in sorted(seen.items())])})
    return moved


async def record_changes(conn: AsyncConnection, observed: Sequence[Change]) -> None:
    """Append changes, observed now (store/changes.py's `record`, the sweep's way to it)."""
    await changes.record(conn, observed)
