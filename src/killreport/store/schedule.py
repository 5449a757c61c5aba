"""The scheduler's SQL: the lock and lease, what is due, the alliance list, the sweep's reads and writes.

Times come from the database's clock (`now()`) wherever the database decides, so the machines'
clocks do not have to agree.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Table,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.changes import Change
from killreport.domain.schedule import Affiliated, Move, StoredAlliance
from killreport.ids import Kind
from killreport.store import changes
from killreport.store import tables as t
from killreport.store.dialects import POSTGRES, Idioms
from killreport.store.http_cache import ALLIANCE_LIST as ALLIANCE_LIST  # re-exported: written once there

# The advisory lock only one scheduler holds ("killrept"); advisory locks are per database, so
# several killreport databases on one server do not contend.
LOCK_KEY: Final = 0x6B696C6C_72657074

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key) AS got")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
_CLAIM_LEASE = text(
    "INSERT INTO scheduler_lease (id, holder, started_at, heartbeat_at) VALUES (1, :holder, now(), now())"
    " ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, started_at = EXCLUDED.started_at,"
    " heartbeat_at = EXCLUDED.heartbeat_at")
_HEARTBEAT = text("UPDATE scheduler_lease SET heartbeat_at = now() WHERE id = 1 AND holder = :holder")
_DROP_LEASE = text("DELETE FROM scheduler_lease WHERE id = 1 AND holder = :holder")
# pg_locks shows a bigint advisory key as its high and low 32 bits, with objsubid 1.
_LEADER = text(
    "SELECT holder, started_at, heartbeat_at, extract(epoch FROM now() - heartbeat_at) AS age_s,"
    " EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
    "   WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.granted"
    "   AND l.classid::bigint = (CAST(:key AS bigint) >> 32)"
    "   AND l.objid::bigint = (CAST(:key AS bigint) & 4294967295)"
    "   AND l.objsubid = 1) AS locked"
    " FROM scheduler_lease WHERE id = 1")


@dataclass(frozen=True, slots=True)
class Leader:
    """The scheduler lease: who holds it, since when, its last heartbeat, and whether the lock is held now."""

    holder: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    heartbeat_age_s: float
    locked: bool


async def leader(conn: AsyncConnection) -> Leader | None:
    """The last scheduler to lead (None if none ever did); `locked` says whether one leads right now."""
    row = (await conn.execute(_LEADER, {"key": LOCK_KEY})).first()
    if row is None:
        return None
    return Leader(row.holder, row.started_at, row.heartbeat_at, float(row.age_s), bool(row.locked))


async def try_lock(conn: AsyncConnection) -> bool:
    """Take the scheduler lock for this session if nobody holds it."""
    return bool((await conn.execute(_TRY_LOCK, {"key": LOCK_KEY})).scalar_one())


async def unlock(conn: AsyncConnection) -> None:
    """Give the scheduler lock back (closing the session does too)."""
    await conn.execute(_UNLOCK, {"key": LOCK_KEY})


async def claim_lease(conn: AsyncConnection, holder: str) -> None:
    """Write who leads now and since when."""
    await conn.execute(_CLAIM_LEASE, {"holder": holder})


async def heartbeat(conn: AsyncConnection, holder: str) -> bool:
    """Renew the lease; False if the row is no longer this holder's."""
    return bool((await conn.execute(_HEARTBEAT, {"holder": holder})).rowcount)


async def drop_lease(conn: AsyncConnection, holder: str) -> None:
    """Remove the lease on a clean stop, if it is still this holder's."""
    await conn.execute(_DROP_LEASE, {"holder": holder})


# ---- what is due -------------------------------------------------------------------------------

_MIN_AGE = bindparam("min_age", type_=Float)


def _last_check(table: Table, prefix: str) -> ColumnElement[Any]:
    # A 304 moves checked_at only; rows from before checked_at existed have fetched_at.
    return func.coalesce(table.c[f"{prefix}checked_at"], table.c[f"{prefix}fetched_at"])


def _expired(table: Table, prefix: str, sql: Idioms) -> ColumnElement[bool]:
    column = table.c[f"{prefix}expires_at"]
    return or_(column.is_(None), column <= sql.now())


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
    """Not pending, and no job failed on it within the min age.

    A failed job (a 404, a dead letter) leaves the row as it was, past its Expires; without the
    second rule the entity would be due again at the next tick, every tick, each try spending a
    unit of the error limit.
    """
    table, p, f = t.ENTITY_TABLES[kind], t.sync_pending, t.sync_failures
    recent = sql.ago(_MIN_AGE)
    return and_(~exists().where(p.c.kind == kind, p.c.id == table.c.id),
                ~exists().where(f.c.kind == kind, f.c.id == table.c.id, f.c.failed_at > recent))


def _due(kind: Kind, sql: Idioms) -> ColumnElement[bool]:
    table = t.ENTITY_TABLES[kind]
    if kind != "alliance":
        return and_(_tracked(kind), _due_resource(table, "", sql), _not_waiting(kind, sql))
    members = t.MEMBERS_PREFIX
    open_due = and_(_tracked(kind), or_(_due_resource(table, "", sql), _due_resource(table, members, sql)))
    final = and_(table.c.closed_at.isnot(None), or_(_final_fetch("", sql), _final_fetch(members, sql)))
    return and_(or_(open_due, final), _not_waiting(kind, sql))


@functools.cache
def tracked_statement(kind: Kind) -> Select[Any]:
    """How many entities of `kind` the scheduler keeps fresh (any dialect)."""
    return select(func.count()).select_from(t.ENTITY_TABLES[kind]).where(_tracked(kind))


@functools.cache
def due_count_statement(kind: Kind, sql: Idioms = POSTGRES) -> Select[Any]:
    """How many entities of `kind` are due (parameter: min_age)."""
    # A WHERE, not a FILTER: the expires_at index then finds the few due rows (0.6 ms for 31,000
    # characters of which 50 are due, where counting beside the tracked total took 60 ms).
    return select(func.count()).select_from(t.ENTITY_TABLES[kind]).where(_due(kind, sql))


@functools.cache
def due_statement(kind: Kind, sql: Idioms = POSTGRES) -> Select[Any]:
    """Due ids of `kind`, oldest Expires first (parameters: min_age, limit)."""
    table = t.ENTITY_TABLES[kind]
    # Oldest due first: for an alliance, whichever of its two resources expired first.
    oldest = (sql.least(table.c.expires_at, table.c.members_expires_at) if kind == "alliance"
              else table.c.expires_at)
    return (select(table.c.id).where(_due(kind, sql)).order_by(oldest.asc().nulls_first(), table.c.id)
            .limit(bindparam("limit")))


async def tracked(conn: AsyncConnection, kind: Kind) -> int:
    """How many entities of `kind` the scheduler keeps fresh (a full count: not for every tick)."""
    return int((await conn.execute(tracked_statement(kind))).scalar_one())


async def due_count(conn: AsyncConnection, kind: Kind, min_age_s: float) -> int:
    """How many entities of `kind` are due and not pending."""
    return int((await conn.execute(due_count_statement(kind), {"min_age": min_age_s})).scalar_one())


async def due_ids(conn: AsyncConnection, kind: Kind, min_age_s: float, limit: int) -> list[int]:
    """Up to `limit` due, not pending entities of `kind`, oldest Expires first."""
    if limit <= 0:
        return []
    result = await conn.execute(due_statement(kind), {"min_age": min_age_s, "limit": limit})
    return [int(r.id) for r in result]


# ---- the alliance list ---------------------------------------------------------------------------

_LIST = text(
    "SELECT body, etag, last_modified,"
    " (expires_at IS NULL OR expires_at <= now())"
    " AND coalesce(checked_at, fetched_at, '-infinity') <= now() - make_interval(secs => :min_age) AS due"
    " FROM http_cache WHERE path = :path")
_TOUCH_LIST = text("UPDATE http_cache SET expires_at = :expires_at, checked_at = :checked_at"
                   " WHERE path = :path")
_HOLD_LIST = text("UPDATE http_cache SET expires_at = greatest(expires_at, :expires_at) WHERE path = :path")
_ALLIANCES = text("SELECT id, closed_at IS NOT NULL AS closed, date_founded FROM alliances")
_CLOSE = text("UPDATE alliances SET closed_at = now()"
              " WHERE id = ANY(CAST(:ids AS bigint[])) AND closed_at IS NULL RETURNING id")
_REOPEN = text("UPDATE alliances SET closed_at = NULL"
               " WHERE id = ANY(CAST(:ids AS bigint[])) AND closed_at IS NOT NULL RETURNING id")
_MISSING = {
    "alliance": text("SELECT u.id FROM unnest(CAST(:ids AS bigint[])) AS u(id)"
                     " WHERE NOT EXISTS (SELECT 1 FROM alliances a WHERE a.id = u.id) ORDER BY u.id"),
    "corporation": text("SELECT u.id FROM unnest(CAST(:ids AS bigint[])) AS u(id)"
                        " WHERE NOT EXISTS (SELECT 1 FROM corporations c WHERE c.id = u.id) ORDER BY u.id"),
}


@dataclass(frozen=True, slots=True)
class ListCache:
    """The stored GET /alliances: its ids, what a conditional request needs, and whether it is due."""

    ids: list[int]
    etag: str | None
    last_modified: dt.datetime | None
    due: bool


async def alliance_list(conn: AsyncConnection, min_age_s: float) -> ListCache | None:
    """The stored alliance list, or None if it was never fetched."""
    row = (await conn.execute(_LIST, {"path": ALLIANCE_LIST, "min_age": min_age_s})).first()
    if row is None:
        return None
    return ListCache([int(i) for i in row.body], row.etag, row.last_modified, bool(row.due))


async def touch_list(conn: AsyncConnection, expires_at: dt.datetime | None, checked_at: dt.datetime) -> None:
    """A 304 for the list: it is current until `expires_at`; nothing else moves."""
    await conn.execute(_TOUCH_LIST, {"path": ALLIANCE_LIST, "expires_at": expires_at,
                                     "checked_at": checked_at})


async def hold_list(conn: AsyncConnection, expires_at: dt.datetime) -> None:
    """An unusable answer for the list came with this Expires: not asked for again before it."""
    await conn.execute(_HOLD_LIST, {"path": ALLIANCE_LIST, "expires_at": expires_at})


async def stored_alliances(conn: AsyncConnection) -> dict[int, StoredAlliance]:
    """Every stored alliance, closed or not."""
    return {int(r.id): StoredAlliance(bool(r.closed), r.date_founded)
            for r in await conn.execute(_ALLIANCES)}


async def close_alliances(conn: AsyncConnection, ids: Iterable[int]) -> list[int]:
    """Mark open alliances closed (now); returns those that were open."""
    return sorted(int(r.id) for r in await conn.execute(_CLOSE, {"ids": sorted(set(ids))}))


async def reopen_alliances(conn: AsyncConnection, ids: Iterable[int]) -> list[int]:
    """Un-mark closed alliances; returns those that were closed."""
    return sorted(int(r.id) for r in await conn.execute(_REOPEN, {"ids": sorted(set(ids))}))


async def missing(conn: AsyncConnection, kind: Kind, ids: Iterable[int]) -> list[int]:
    """Which of `ids` are not stored as `kind` (an alliance or a corporation)."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    return [int(r.id) for r in await conn.execute(_MISSING[kind], {"ids": wanted})]


# ---- the affiliation sweep -----------------------------------------------------------------------

SWEEP_STARTED: Final = "affiliation_sweep_started"
SWEEP_NOT_BEFORE: Final = "affiliation_not_before"
_MARKS = text("SELECT now() AS db_now, (SELECT at FROM scheduler_marks WHERE name = :started) AS started,"
              " (SELECT at FROM scheduler_marks WHERE name = :not_before) AS not_before")
_MARK_NOW = text("INSERT INTO scheduler_marks (name, at) VALUES (:name, now())"
                 " ON CONFLICT (name) DO UPDATE SET at = EXCLUDED.at")
_RAISE_MARK = text("INSERT INTO scheduler_marks (name, at) VALUES (:name, :at)"
                   " ON CONFLICT (name) DO UPDATE SET at = greatest(scheduler_marks.at, EXCLUDED.at)")
_SWEEP_IDS = text("SELECT c.id FROM characters c"
                  " WHERE NOT EXISTS (SELECT 1 FROM character_tombstones d WHERE d.id = c.id) ORDER BY c.id")
_AFFILIATIONS = text("SELECT id, corporation_id, alliance_id FROM characters"
                     " WHERE id = ANY(CAST(:ids AS bigint[]))")
# Compare-and-set: a job that stored the character meanwhile wins, and no change is recorded twice.
_MOVE = text(
    "UPDATE characters AS c SET corporation_id = u.corporation_id, alliance_id = u.alliance_id"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:old_corporations AS bigint[]),"
    "   CAST(:old_alliances AS bigint[]), CAST(:corporations AS bigint[]), CAST(:alliances AS bigint[]))"
    "   AS u(id, old_corporation_id, old_alliance_id, corporation_id, alliance_id)"
    " WHERE c.id = u.id AND c.corporation_id = u.old_corporation_id"
    " AND c.alliance_id IS NOT DISTINCT FROM u.old_alliance_id RETURNING c.id")


@dataclass(frozen=True, slots=True)
class SweepMarks:
    """When the last sweep started, when its answers expire, and the database's time now."""

    now: dt.datetime
    started: dt.datetime | None
    not_before: dt.datetime | None


async def sweep_marks(conn: AsyncConnection) -> SweepMarks:
    """The sweep's marks (kept in the database so a new leader continues the rhythm)."""
    row = (await conn.execute(_MARKS, {"started": SWEEP_STARTED, "not_before": SWEEP_NOT_BEFORE})).one()
    return SweepMarks(row.db_now, row.started, row.not_before)


async def mark_sweep_started(conn: AsyncConnection) -> None:
    """A sweep starts now."""
    await conn.execute(_MARK_NOW, {"name": SWEEP_STARTED})


async def hold_sweep_until(conn: AsyncConnection, expires_at: dt.datetime) -> None:
    """No sweep before `expires_at` (the latest Expires of any affiliation answer wins)."""
    await conn.execute(_RAISE_MARK, {"name": SWEEP_NOT_BEFORE, "at": expires_at})


async def sweep_ids(conn: AsyncConnection) -> list[int]:
    """Every stored character that is not known deleted, by id."""
    return [int(r.id) for r in await conn.execute(_SWEEP_IDS)]


async def affiliations(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Affiliated]:
    """Where the copy says these characters are."""
    result = await conn.execute(_AFFILIATIONS, {"ids": list(ids)})
    return {int(r.id): Affiliated(int(r.corporation_id), r.alliance_id) for r in result}


async def apply_moves(conn: AsyncConnection, moves: Sequence[Move]) -> set[int]:
    """Move characters whose row still says where `moves` found them; returns those moved."""
    if not moves:
        return set()
    params: Mapping[str, list[int | None]] = {
        "ids": [m.character_id for m in moves],
        "old_corporations": [m.old.corporation_id for m in moves],
        "old_alliances": [m.old.alliance_id for m in moves],
        "corporations": [m.new.corporation_id for m in moves],
        "alliances": [m.new.alliance_id for m in moves],
    }
    return {int(r.id) for r in await conn.execute(_MOVE, dict(params))}


async def record_changes(conn: AsyncConnection, observed: Sequence[Change]) -> None:
    """Append changes, observed now (store/changes.py's `record`, the sweep's way to it)."""
    await changes.record(conn, observed)
