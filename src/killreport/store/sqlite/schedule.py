"""ScheduleQueries on SQLite: store/schedule.py's answers from the one file.

The due rules are store/schedule.py's own statements, given SQLite's idioms. Times are epoch
seconds (types.UtcEpoch) and the clock is the machine's, read by SQLite in each statement.

The lock: on SQLite the scheduler runs only inside the process that holds the file's runner lock,
so there is no second scheduler to keep out: `try_lock` always succeeds and `unlock` does nothing.
Id lists reach SQL as one JSON array (json_each), PostgreSQL's arrays' counterpart: one bound value
whatever the length, where an IN list would bind one variable per id.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy import (
    Float,
    Select,
    Text,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.sqlite import insert as upsert
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.changes import Change
from killreport.config import Settings
from killreport.domain.schedule import Affiliated, Move, StoredAlliance
from killreport.ids import Kind
from killreport.store import tables as t
from killreport.store.dialects import NOW, NOW_S, SQLITE
from killreport.store.schedule import (
    ALLIANCE_LIST,
    SWEEP_NOT_BEFORE,
    SWEEP_STARTED,
    Leader,
    ListCache,
    SweepMarks,
    due_count_statement,
    due_statement,
    tracked_statement,
)
from killreport.store.sqlite import fast
from killreport.store.sqlite.types import UtcEpoch

__all__ = [
    "NOW", "NOW_S", "SQLITE", "affiliations", "alliance_list", "apply_moves", "claim_lease",
    "close_alliances", "drop_lease", "due_count", "due_ids", "heartbeat", "hold_list", "hold_sweep_until",
    "leader", "mark_sweep_started", "missing", "record_changes", "reopen_alliances", "stored_alliances",
    "sweep_ids", "sweep_marks", "touch_list", "tracked", "try_lock", "unlock",
]

# A lease is "locked" (its scheduler alive) while its heartbeat is younger than this many of the
# default heartbeat intervals (SCHEDULER_HEARTBEAT_S): one late beat is not a dead scheduler.
LEASE_BEATS: Final = 3
_HEARTBEAT_S: Final = float(Settings.model_fields["scheduler_heartbeat_s"].default)


def _ids(name: str = "ids") -> Select[Any]:
    """The ids in the JSON array bound as `name`, one row each (column `value`)."""
    return select(func.json_each(bindparam(name, type_=Text)).table_valued("value").c.value)


# ---- the lock and the lease ----------------------------------------------------------------------

_lease = t.scheduler_lease
_CLAIM = upsert(_lease).values(id=1, holder=bindparam("holder"), started_at=NOW, heartbeat_at=NOW)
_CLAIM_LEASE = _CLAIM.on_conflict_do_update(index_elements=[_lease.c.id], set_={
    "holder": _CLAIM.excluded.holder, "started_at": _CLAIM.excluded.started_at,
    "heartbeat_at": _CLAIM.excluded.heartbeat_at})
_LEADER = select(_lease.c.holder, _lease.c.started_at, _lease.c.heartbeat_at,
                 type_coerce(NOW_S - type_coerce(_lease.c.heartbeat_at, Float), Float).label("age_s")
                 ).where(_lease.c.id == 1)


async def leader(conn: AsyncConnection) -> Leader | None:
    """The last scheduler to lead; `locked` = its heartbeat is recent (younger than 3 heartbeats, 9 s).

    The file's runner lock says a runner is alive, not that its scheduler leads; the lease's
    heartbeat does. "Recent" counts the default SCHEDULER_HEARTBEAT_S (3 s): a scheduler set to beat
    less often than every 9 s shows as not leading late in each of its intervals.
    """
    row = (await conn.execute(_LEADER)).first()
    if row is None:
        return None
    age = float(row.age_s)
    return Leader(row.holder, row.started_at, row.heartbeat_at, age, age < LEASE_BEATS * _HEARTBEAT_S)


async def try_lock(conn: AsyncConnection) -> bool:
    """Always True: only the process holding the file's runner lock runs a scheduler."""
    del conn  # the runner lock (a file lock) already decided
    return True


async def unlock(conn: AsyncConnection) -> None:
    """Nothing to give back (the runner lock goes with its process)."""
    del conn


async def claim_lease(conn: AsyncConnection, holder: str) -> None:
    """Write who leads now and since when."""
    await conn.execute(_CLAIM_LEASE, {"holder": holder})


async def heartbeat(conn: AsyncConnection, holder: str) -> bool:
    """Renew the lease; False if the row is no longer this holder's."""
    statement = update(_lease).where(_lease.c.id == 1, _lease.c.holder == holder).values(heartbeat_at=NOW)
    return bool((await conn.execute(statement)).rowcount)


async def drop_lease(conn: AsyncConnection, holder: str) -> None:
    """Remove the lease on a clean stop, if it is still this holder's."""
    await conn.execute(delete(_lease).where(_lease.c.id == 1, _lease.c.holder == holder))


# ---- what is due (store/schedule.py's rules) -----------------------------------------------------

async def tracked(conn: AsyncConnection, kind: Kind) -> int:
    """How many entities of `kind` the scheduler keeps fresh (a full count: not for every tick)."""
    return int((await conn.execute(tracked_statement(kind))).scalar_one())


async def due_count(conn: AsyncConnection, kind: Kind, min_age_s: float) -> int:
    """How many entities of `kind` are due and not pending."""
    statement = due_count_statement(kind, SQLITE)
    return int((await conn.execute(statement, {"min_age": min_age_s})).scalar_one())


async def due_ids(conn: AsyncConnection, kind: Kind, min_age_s: float, limit: int) -> list[int]:
    """Up to `limit` due, not pending entities of `kind`, oldest Expires first."""
    if limit <= 0:
        return []
    result = await conn.execute(due_statement(kind, SQLITE), {"min_age": min_age_s, "limit": limit})
    return [int(r.id) for r in result]


# ---- the alliance list ---------------------------------------------------------------------------

_h = t.http_cache.c
_list_last = func.coalesce(_h.checked_at, _h.fetched_at)
_LIST = select(_h.body, _h.etag, _h.last_modified, and_(
    or_(_h.expires_at.is_(None), _h.expires_at <= NOW),
    or_(_list_last.is_(None), _list_last <= NOW_S - bindparam("min_age", type_=Float))).label("due")
).where(_h.path == ALLIANCE_LIST)
_a = t.alliances.c
_ALLIANCES = select(_a.id, _a.closed_at.isnot(None).label("closed"), _a.date_founded)
_CLOSE = (update(t.alliances).where(_a.id.in_(_ids()), _a.closed_at.is_(None)).values(closed_at=NOW)
          .returning(_a.id))
_REOPEN = (update(t.alliances).where(_a.id.in_(_ids()), _a.closed_at.isnot(None)).values(closed_at=None)
           .returning(_a.id))


def _missing_statement(kind: Kind) -> Select[Any]:
    wanted = func.json_each(bindparam("ids", type_=Text)).table_valued("value")
    table = t.ENTITY_TABLES[kind]
    return (select(wanted.c.value.label("id")).where(~exists().where(table.c.id == wanted.c.value))
            .order_by(wanted.c.value))


_MISSING = {"alliance": _missing_statement("alliance"), "corporation": _missing_statement("corporation")}


async def alliance_list(conn: AsyncConnection, min_age_s: float) -> ListCache | None:
    """The stored alliance list, or None if it was never fetched."""
    row = (await conn.execute(_LIST, {"min_age": min_age_s})).first()
    if row is None:
        return None
    return ListCache([int(i) for i in row.body], row.etag, row.last_modified, bool(row.due))


async def touch_list(conn: AsyncConnection, expires_at: dt.datetime | None,
                     checked_at: dt.datetime) -> None:
    """A 304 for the list: it is current until `expires_at`; nothing else moves."""
    await conn.execute(update(t.http_cache).where(_h.path == ALLIANCE_LIST).values(
        expires_at=expires_at, checked_at=checked_at))


async def hold_list(conn: AsyncConnection, expires_at: dt.datetime) -> None:
    """An unusable answer for the list came with this Expires: not asked for again before it."""
    until = literal(expires_at, UtcEpoch())
    # PostgreSQL's greatest() skips a NULL; SQLite's max() would return it.
    await conn.execute(update(t.http_cache).where(_h.path == ALLIANCE_LIST).values(
        expires_at=func.max(func.coalesce(_h.expires_at, until), until)))


async def stored_alliances(conn: AsyncConnection) -> dict[int, StoredAlliance]:
    """Every stored alliance, closed or not."""
    return {int(r.id): StoredAlliance(bool(r.closed), r.date_founded)
            for r in await conn.execute(_ALLIANCES)}


async def close_alliances(conn: AsyncConnection, ids: Iterable[int]) -> list[int]:
    """Mark open alliances closed (now); returns those that were open."""
    return sorted(int(r.id) for r in await conn.execute(_CLOSE, {"ids": json.dumps(sorted(set(ids)))}))


async def reopen_alliances(conn: AsyncConnection, ids: Iterable[int]) -> list[int]:
    """Un-mark closed alliances; returns those that were closed."""
    return sorted(int(r.id) for r in await conn.execute(_REOPEN, {"ids": json.dumps(sorted(set(ids)))}))


async def missing(conn: AsyncConnection, kind: Kind, ids: Iterable[int]) -> list[int]:
    """Which of `ids` are not stored as `kind` (an alliance or a corporation)."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    return [int(r.id) for r in await conn.execute(_MISSING[kind], {"ids": json.dumps(wanted)})]


# ---- the affiliation sweep -----------------------------------------------------------------------

_m = t.scheduler_marks.c


def _mark(name: str) -> Any:
    return select(_m.at).where(_m.name == name).scalar_subquery()


_MARKS = select(NOW.label("db_now"), _mark(SWEEP_STARTED).label("started"),
                _mark(SWEEP_NOT_BEFORE).label("not_before"))
_MARK = upsert(t.scheduler_marks).values(name=SWEEP_STARTED, at=NOW)
_MARK_NOW = _MARK.on_conflict_do_update(index_elements=[_m.name], set_={"at": _MARK.excluded.at})
_RAISE = upsert(t.scheduler_marks).values(name=SWEEP_NOT_BEFORE, at=bindparam("at", type_=UtcEpoch()))
_RAISE_MARK = _RAISE.on_conflict_do_update(index_elements=[_m.name], set_={
    "at": func.max(_m.at, _RAISE.excluded.at)})
_c = t.characters.c
_SWEEP_IDS = (select(_c.id).where(~exists().where(t.character_tombstones.c.id == _c.id))
              .order_by(_c.id))
_AFFILIATIONS = select(_c.id, _c.corporation_id, _c.alliance_id).where(_c.id.in_(_ids()))
_MOVES = func.json_each(bindparam("moves", type_=Text)).table_valued("value")
_MOVED = select(*(func.json_extract(_MOVES.c.value, f"$[{i}]").label(name) for i, name in enumerate(
    ("id", "old_corporation_id", "old_alliance_id", "corporation_id", "alliance_id")))).subquery("u")
# Compare-and-set: a job that stored the character meanwhile wins, and no change is recorded twice.
_MOVE = (update(t.characters)
         .values(corporation_id=_MOVED.c.corporation_id, alliance_id=_MOVED.c.alliance_id)
         .where(_c.id == _MOVED.c.id, _c.corporation_id == _MOVED.c.old_corporation_id,
                _c.alliance_id.is_not_distinct_from(_MOVED.c.old_alliance_id))
         .returning(_c.id))


async def sweep_marks(conn: AsyncConnection) -> SweepMarks:
    """The sweep's marks (kept in the file so the next scheduler continues the rhythm)."""
    row = (await conn.execute(_MARKS)).one()
    return SweepMarks(row.db_now, row.started, row.not_before)


async def mark_sweep_started(conn: AsyncConnection) -> None:
    """A sweep starts now."""
    await conn.execute(_MARK_NOW)


async def hold_sweep_until(conn: AsyncConnection, expires_at: dt.datetime) -> None:
    """No sweep before `expires_at` (the latest Expires of any affiliation answer wins)."""
    await conn.execute(_RAISE_MARK, {"at": expires_at})


async def sweep_ids(conn: AsyncConnection) -> list[int]:
    """Every stored character that is not known deleted, by id."""
    return [int(r.id) for r in await conn.execute(_SWEEP_IDS)]


async def affiliations(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Affiliated]:
    """Where the copy says these characters are."""
    result = await conn.execute(_AFFILIATIONS, {"ids": json.dumps(list(ids))})
    return {int(r.id): Affiliated(int(r.corporation_id), r.alliance_id) for r in result}


async def apply_moves(conn: AsyncConnection, moves: Sequence[Move]) -> set[int]:
    """Move characters whose row still says where `moves` found them; returns those moved."""
    if not moves:
        return set()
    rows = [[m.character_id, m.old.corporation_id, m.old.alliance_id, m.new.corporation_id,
             m.new.alliance_id] for m in moves]
    return {int(r.id) for r in await conn.execute(_MOVE, {"moves": json.dumps(rows)})}


_RECORD: Final = insert(t.changes).values(
    kind=bindparam("kind", type_=Text), entity_id=bindparam("entity_id"),
    field=bindparam("field", type_=Text),
    old_value=bindparam("old_value", type_=t.changes.c.old_value.type),
    new_value=bindparam("new_value", type_=t.changes.c.new_value.type), observed_at=NOW)


def record(tx: fast.Tx, changes: Sequence[Change]) -> None:
    """Append changes, observed now, inside a transaction of store/sqlite/fast.py."""
    if changes:
        tx.many(_RECORD, [{"kind": c.kind, "entity_id": c.entity_id, "field": c.field, "old_value": c.old,
                           "new_value": c.new} for c in changes])


async def record_changes(conn: AsyncConnection, changes: Sequence[Change]) -> None:
    """Append changes, observed now (store/changes.py's record, on SQLite's clock)."""
    if changes:
        await fast.transact(conn, lambda tx: record(tx, changes))

