"""JobQueries on SQLite: store/entities.py's and pending.py's answers from the one file.

Every statement here is on a job's path, so each runs through store/sqlite/fast.py: written in
Core, compiled once, executed by sqlite3 without SQLAlchemy's execution (43 % of the embedded
runner's CPU went there). Where PostgreSQL writes several tables in one statement (data-modifying
CTEs), SQLite cannot (no DML in a CTE), so those writes run as one transaction (`fast.transact`):
BEGIN IMMEDIATE on the job's autocommit connection, committed at the end, rolled back if any part
fails, all in one call. IMMEDIATE takes the file's write lock before the first statement (the
driver waits for it on its thread), so a transaction never fails half way because another process
wrote first (a deferred one could). A claim and its read are one such transaction too.

Time: the clock is SQLite's `julianday('now')` as epoch seconds (schedule.NOW), read in each
statement, not Python's time bound as a parameter: a statement that waited for the write lock
then judges claims and freshness at the moment it runs, as PostgreSQL's clock_timestamp() does,
and every module on the file shares one clock expression. 'now' holds still within one statement,
so a claim and the time it returns (for judging freshness) are the same instant.

Id lists reach SQL as one JSON array read by json_each (PostgreSQL's arrays' counterpart).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import (
    BindParameter,
    Delete,
    Float,
    Insert,
    Integer,
    Select,
    Table,
    Text,
    bindparam,
    delete,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.sqlite import insert as upsert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Update
from sqlalchemy.types import TypeEngine

from killreport.changes import Change
from killreport.domain.models import Entity
from killreport.ids import Kind
from killreport.store import references, rows
from killreport.store import tables as t
from killreport.store.entities import Stored
from killreport.store.facts import CacheFacts, Revalidated
from killreport.store.references import referenced_ids
from killreport.store.sqlite import fast
from killreport.store.sqlite.fetch_lock import fetch_lock
from killreport.store.sqlite.schedule import NOW, NOW_S, record
from killreport.store.sqlite.types import UtcEpoch

__all__ = [
    "add", "among", "claim_and_read", "defer", "fetch_lock", "finish", "forget_unclaimed", "fresh_ids",
    "mark_published", "put_ids", "record_failure", "referenced_ids", "release", "replace_members",
    "revalidate", "revalidate_and_finish", "store", "store_and_finish", "tombstone", "unpublished",
]

_p = t.sync_pending
_MEMBERS_FACTS = ("members_fetched_at", "members_expires_at", "members_etag")


def _ids(values: Iterable[int]) -> str:
    return json.dumps(sorted({int(v) for v in values}))


def _each(name: str) -> Select[Any]:
    """The ids of the JSON array bound as `name`, one row each (column `value`)."""
    return select(func.json_each(bindparam(name, type_=Text)).table_valued("value").c.value)


# ---- claim and read --------------------------------------------------------------------------------

@functools.cache
def _claim_statement() -> Insert:
    # PostgreSQL's claim (pending.claim_statement): a row nobody holds, or whose claim has passed,
    # is taken for :ttl seconds; RETURNING only when won, with the instant it was judged at.
    stmt = upsert(_p).values(kind=bindparam("kind", type_=Text), id=bindparam("id"), queued_at=NOW,
                             claimed_until=NOW_S + bindparam("ttl", type_=Float), published=True,
                             attempts=0)
    return stmt.on_conflict_do_update(
        index_elements=[_p.c.kind, _p.c.id],
        set_={"claimed_until": stmt.excluded.claimed_until, "published": true()},
        where=or_(_p.c.claimed_until.is_(None), _p.c.claimed_until < NOW),
    ).returning(_p.c.attempts, NOW.label("db_now"))


@functools.cache
def _read_statement(kind: Kind) -> Select[Any]:
    # One row whether or not the entity is stored (an outer join from a one-row select), as the
    # PostgreSQL statement reads from its claim's row: "not stored" and "tombstoned" answer too.
    table = t.ENTITY_TABLES[kind]
    entity_id = bindparam("id", type_=Integer)
    tombstoned = exists().where(t.character_tombstones.c.id == entity_id) if kind == "character" else false()
    names = dict.fromkeys([*(s.column for s in rows.sources(kind)),
                           *(c.name for c in references.columns(kind))])
    members = [table.c[c] for c in _MEMBERS_FACTS] if kind == "alliance" else []
    one = select(literal(1).label("one")).subquery("one")
    read = [table.c.id, table.c.expires_at, table.c.etag, *members, *(table.c[c] for c in names)]
    return select(tombstoned.label("tombstoned"), *read).select_from(
        one.outerjoin(table, table.c.id == entity_id))


_MEMBERS_OF: Final = select(t.alliance_corporations.c.corporation_id).where(
    t.alliance_corporations.c.alliance_id == bindparam("id"))


async def claim_and_read(conn: AsyncConnection, kind: Kind, entity_id: int, ttl_s: float) -> Stored | None:
    """Claim the entity for `ttl_s` and read what is stored; None if another claim holds it."""
    def work(tx: fast.Tx) -> Stored | None:
        claim = tx.rows(_claim_statement(), {"kind": kind, "id": entity_id, "ttl": ttl_s})
        if not claim:
            return None
        row = tx.rows(_read_statement(kind), {"id": entity_id})[0]
        return _as_stored(tx, kind, entity_id, row, claim[0]["db_now"])

    return await fast.transact(conn, work)


def _as_stored(tx: fast.Tx, kind: Kind, entity_id: int, row: Mapping[str, Any], now: dt.datetime) -> Stored:
    # What store/entities.py makes of its read, field for field (the contract tests compare them).
    if row["tombstoned"]:
        return Stored(fresh=True, tombstoned=True)
    if row["id"] is None:
        return Stored(fresh=False)
    stored = Stored(fresh=_fresh(row["expires_at"], now), references=references.from_row(kind, row),
                    row={s.column: row[s.column] for s in rows.sources(kind)}, etag=row["etag"])
    if kind != "alliance":
        return stored
    # Fresh by its Expires alone: an unusable member list leaves one (`defer`) and no list.
    stored = dataclasses.replace(stored, members_fresh=_fresh(row["members_expires_at"], now))
    if row["members_fetched_at"] is None:
        return stored
    members = sorted(r["corporation_id"] for r in tx.rows(_MEMBERS_OF, {"id": entity_id}))
    return dataclasses.replace(stored, members=tuple(members), members_etag=row["members_etag"])


def _fresh(expires_at: dt.datetime | None, now: dt.datetime) -> bool:
    return expires_at is not None and expires_at > now


# ---- writing the copy ------------------------------------------------------------------------------

def _set(table: Table, columns: Iterable[str], **types: TypeEngine[Any]) -> dict[str, BindParameter[Any]]:
    """A bound parameter per column, typed as the column (or as `types` says)."""
    return {c: bindparam(c, type_=types.get(c, table.c[c].type)) for c in columns}


@functools.cache
def _upsert_statement(kind: Kind, columns: tuple[str, ...]) -> Insert:
    # Built once per shape, as on PostgreSQL: the ON CONFLICT clause is most of an upsert's cost.
    table = t.ENTITY_TABLES[kind]
    stmt = upsert(table).values(_set(table, columns))
    return stmt.on_conflict_do_update(
        index_elements=["id"], set_={c: stmt.excluded[c] for c in columns if c != "id"})


def _upsert(tx: fast.Tx, entity_id: int, entity: Entity, facts: CacheFacts) -> Kind:
    kind = rows.kind_of(entity)
    values = {**rows.row_of(entity), **facts.columns(), "id": entity_id}
    tx.execute(_upsert_statement(kind, tuple(sorted(values))), values)
    return kind


async def store(conn: AsyncConnection, entity_id: int, entity: Entity, facts: CacheFacts,
                noted: Sequence[Change] = ()) -> None:
    """Upsert the entity's row and append `noted` changes, atomically."""
    def work(tx: fast.Tx) -> None:
        _upsert(tx, entity_id, entity, facts)
        record(tx, noted)

    await fast.transact(conn, work)


async def store_and_finish(conn: AsyncConnection, entity_id: int, entity: Entity, facts: CacheFacts,
                           children: tuple[Kind, Iterable[int]] | None = None,
                           noted: Sequence[Change] = ()) -> list[int]:
    """`store`, add the children to the pending set (as published), finish: atomically.

    Returns the children this call added."""
    def work(tx: fast.Tx) -> list[int]:
        kind = _upsert(tx, entity_id, entity, facts)
        record(tx, noted)
        added = _add_children(tx, children)
        _finish(tx, kind, entity_id, stored=True)
        return added

    return await fast.transact(conn, work)


@functools.cache
def _revalidate_statement(kind: Kind, columns: tuple[str, ...]) -> Update:
    table = t.ENTITY_TABLES[kind]
    return update(table).where(table.c.id == bindparam("entity_id")).values(_set(table, columns))


def _revalidate(tx: fast.Tx, kind: Kind, entity_id: int, checked: Revalidated, prefix: str = "") -> None:
    values = checked.columns(prefix)
    tx.execute(_revalidate_statement(kind, tuple(sorted(values))), {**values, "entity_id": entity_id})


async def revalidate(conn: AsyncConnection, kind: Kind, entity_id: int, checked: Revalidated,
                     prefix: str = "") -> None:
    """A 304 (with `members_`: for an alliance's member list): move Expires and checked time."""
    await fast.transact(conn, lambda tx: _revalidate(tx, kind, entity_id, checked, prefix))


async def revalidate_and_finish(conn: AsyncConnection, kind: Kind, entity_id: int, checked: Revalidated,
                                children: tuple[Kind, Iterable[int]] | None = None) -> list[int]:
    """`revalidate`, add the children (as published), finish, atomically; returns those added."""
    def work(tx: fast.Tx) -> list[int]:
        _revalidate(tx, kind, entity_id, checked)
        added = _add_children(tx, children)
        _finish(tx, kind, entity_id, stored=True)
        return added

    return await fast.transact(conn, work)


def _add_children(tx: fast.Tx, children: tuple[Kind, Iterable[int]] | None) -> list[int]:
    if children is None:
        return []
    return _add(tx, children[0], children[1], skip_fresh=True, published=True)


@functools.cache
def _defer_statement(kind: Kind, prefix: str) -> Update:
    table = t.ENTITY_TABLES[kind]
    column = table.c[f"{prefix}expires_at"]
    later = bindparam("until", type_=UtcEpoch())
    # PostgreSQL's GREATEST skips a NULL; SQLite's two-argument max() is NULL if either is.
    return update(table).where(table.c.id == bindparam("entity_id")).values(
        {column.name: func.max(func.coalesce(column, later), later)})


async def defer(conn: AsyncConnection, kind: Kind, entity_id: int, until: dt.datetime,
                prefix: str = "") -> None:
    """Not before `until` (an unusable answer's Expires); the copy is untouched."""
    await fast.transact(conn, lambda tx: tx.execute(_defer_statement(kind, prefix),
                                                    {"entity_id": entity_id, "until": until}))


async def replace_members(conn: AsyncConnection, alliance_id: int, members: Iterable[int],
                          facts: CacheFacts, noted: Sequence[Change] = ()) -> None:
    """Store an alliance's member list, its cache facts and its changes, atomically."""
    params = {"alliance_id": alliance_id, "member_ids": _ids(members)}
    values = facts.columns(t.MEMBERS_PREFIX)

    def work(tx: fast.Tx) -> None:
        tx.execute(_MEMBERS_GONE, params)
        tx.execute(_MEMBERS_JOINED, params)
        members_facts = _revalidate_statement("alliance", tuple(sorted(values)))
        tx.execute(members_facts, {**values, "entity_id": alliance_id})
        record(tx, noted)

    await fast.transact(conn, work)


_ac = t.alliance_corporations
_MEMBERS_GONE: Delete = delete(_ac).where(_ac.c.alliance_id == bindparam("alliance_id"),
                                          _ac.c.corporation_id.not_in(_each("member_ids")))
# WHERE true: SQLite reads `INSERT ... SELECT ... ON CONFLICT` as a join's ON without one.
_MEMBERS_JOINED: Insert = upsert(_ac).from_select(
    ["alliance_id", "corporation_id"],
    select(bindparam("alliance_id"), _each("member_ids").subquery().c.value).where(true()),
).on_conflict_do_nothing()
_TOMBSTONE: Final = upsert(t.character_tombstones).values(
    id=bindparam("id"), deleted_seen_at=NOW, reason=bindparam("reason", type_=Text)).on_conflict_do_nothing()


async def tombstone(conn: AsyncConnection, character_id: int, reason: str,
                    noted: Sequence[Change] = ()) -> None:
    """Record a character as deleted (its row stays), with its changes."""
    def work(tx: fast.Tx) -> None:
        tx.execute(_TOMBSTONE, {"id": character_id, "reason": reason})
        record(tx, noted)

    await fast.transact(conn, work)


_FAILURE_COLUMNS: Final = ("kind", "id", "status", "reason", "attempts", "permanent")
_RECORD_FAILURE: Final = upsert(t.sync_failures).values(
    {**_set(t.sync_failures, _FAILURE_COLUMNS), "failed_at": NOW}).on_conflict_do_update(
    index_elements=["kind", "id"], set_={**{c: bindparam(c) for c in _FAILURE_COLUMNS}, "failed_at": NOW})


async def record_failure(conn: AsyncConnection, kind: Kind, entity_id: int, *, status: int | None,
                         reason: str, attempts: int, permanent: bool) -> None:
    """Record why an entity could not be stored (the latest failure wins)."""
    values = {"kind": kind, "id": entity_id, "status": status, "reason": reason, "attempts": attempts,
              "permanent": permanent}
    await fast.transact(conn, lambda tx: tx.execute(_RECORD_FAILURE, values))


# ---- the pending set -------------------------------------------------------------------------------

_RELEASE: Final = update(_p).where(_p.c.kind == bindparam("k"), _p.c.id == bindparam("i")).values(
    claimed_until=bindparam("hold", type_=UtcEpoch()), attempts=bindparam("attempts", type_=Integer))


async def release(conn: AsyncConnection, kind: Kind, entity_id: int, attempts: int,
                  hold_until: dt.datetime | None = None) -> None:
    """Give the claim back (kept until `hold_until`, if given), remembering the attempts."""
    params = {"k": kind, "i": entity_id, "hold": hold_until, "attempts": attempts}
    await fast.transact(conn, lambda tx: tx.execute(_RELEASE, params))


def _done(table: Table) -> Delete:
    return delete(table).where(table.c.kind == bindparam("kind"), table.c.id == bindparam("id"))


_FINISH = _done(_p)
_FAILED = _done(t.sync_failures)


def _finish(tx: fast.Tx, kind: Kind, entity_id: int, *, stored: bool) -> None:
    params = {"kind": kind, "id": entity_id}
    if stored:
        tx.execute(_FAILED, params)
    tx.execute(_FINISH, params)


async def finish(conn: AsyncConnection, kind: Kind, entity_id: int, *, stored: bool = False) -> None:
    """The entity is done: leave the pending set; `stored` clears its old failures."""
    await fast.transact(conn, lambda tx: _finish(tx, kind, entity_id, stored=stored))


@functools.cache
def _add_statement(kind: Kind, *, skip_fresh: bool, published: bool) -> Insert:
    # pending.add_statement's rules: not pending already, never a deleted character, not fresh if asked.
    ids = _each("add_ids").subquery("u")
    chosen = select(literal(kind, Text), ids.c.value, NOW, null(), literal(published), literal(0))
    chosen = chosen.where(true())  # see _MEMBERS_JOINED
    if kind == "character":
        chosen = chosen.where(~exists().where(t.character_tombstones.c.id == ids.c.value))
    if skip_fresh:
        table = t.ENTITY_TABLES[kind]
        fresh = [table.c.expires_at > NOW]
        if kind == "alliance":
            fresh.append(table.c.members_expires_at > NOW)
        chosen = chosen.where(~exists().where(table.c.id == ids.c.value, *fresh))
    columns = ["kind", "id", "queued_at", "claimed_until", "published", "attempts"]
    return upsert(_p).from_select(columns, chosen).on_conflict_do_nothing(
        index_elements=[_p.c.kind, _p.c.id]).returning(_p.c.id)


def _add(tx: fast.Tx, kind: Kind, ids: Iterable[int], *, skip_fresh: bool, published: bool) -> list[int]:
    found = tx.rows(_add_statement(kind, skip_fresh=skip_fresh, published=published), {"add_ids": _ids(ids)})
    return [int(r["id"]) for r in found]


async def add(conn: AsyncConnection, kind: Kind, ids: Iterable[int], *, skip_fresh: bool,
              published: bool = False) -> list[int]:
    """Add ids not yet pending (skipping fresh ones if asked); return those newly added."""
    return await fast.transact(
        conn, lambda tx: _add(tx, kind, ids, skip_fresh=skip_fresh, published=published))


_AMONG: Final = select(_p.c.id).where(_p.c.kind == bindparam("kind"), _p.c.id.in_(_each("ids")))


async def among(conn: AsyncConnection, kind: Kind, ids: Iterable[int]) -> list[int]:
    """Which of `ids` are pending."""
    params = {"kind": kind, "ids": _ids(ids)}
    return await fast.read(conn, lambda tx: [int(r["id"]) for r in tx.rows(_AMONG, params)])


@functools.cache
def _unpublished_statement(among_ids: bool) -> Select[Any]:
    query = select(_p.c.id).where(
        _p.c.kind == bindparam("kind"), _p.c.published.is_(False),
        _p.c.queued_at <= NOW_S - bindparam("age", type_=Float),
    ).order_by(_p.c.queued_at).limit(bindparam("limit", type_=Integer))
    return query.where(_p.c.id.in_(_each("ids"))) if among_ids else query


async def unpublished(conn: AsyncConnection, kind: Kind, ids: Iterable[int] | None = None, *,
                      older_than_s: float = 0.0, limit: int = 10_000) -> list[int]:
    """Pending ids whose message was never confirmed (among `ids`, if given)."""
    params = {"kind": kind, "age": older_than_s, "limit": limit, "ids": _ids(ids or ())}
    query = _unpublished_statement(ids is not None)
    return await fast.read(conn, lambda tx: [int(r["id"]) for r in tx.rows(query, params)])


_MARK_PUBLISHED: Final = update(_p).where(_p.c.kind == bindparam("kind"), _p.c.id.in_(_each("ids"))).values(
    published=True)


async def mark_published(conn: AsyncConnection, kind: Kind, ids: Sequence[int]) -> None:
    """Record that the queue confirmed these messages."""
    params = {"kind": kind, "ids": _ids(ids)}
    await fast.transact(conn, lambda tx: tx.execute(_MARK_PUBLISHED, params))


_FORGET_UNCLAIMED: Final = delete(_p).where(or_(_p.c.claimed_until.is_(None), _p.c.claimed_until < NOW))


async def forget_unclaimed(conn: AsyncConnection) -> int:
    """Drop pending rows nobody is working on (their messages were just purged)."""
    return await fast.transact(conn, lambda tx: tx.execute(_FORGET_UNCLAIMED))


# ---- cached lists ----------------------------------------------------------------------------------

_h = t.http_cache
_FRESH_LIST = select(_h.c.body).where(_h.c.path == bindparam("path"), _h.c.expires_at > NOW)


async def fresh_ids(conn: AsyncConnection, path: str) -> list[int] | None:
    """The cached id list of `path` while ESI says it is current, else None."""
    found = await fast.read(conn, lambda tx: tx.rows(_FRESH_LIST, {"path": path}))
    return list(found[0]["body"]) if found else None


_LIST_COLUMNS: Final = ("path", "body", "fetched_at", "expires_at", "etag", "last_modified", "checked_at")
_stmt = upsert(_h).values(_set(_h, _LIST_COLUMNS))
_PUT_LIST: Final = _stmt.on_conflict_do_update(
    index_elements=["path"], set_={k: _stmt.excluded[k] for k in _LIST_COLUMNS if k != "path"})


async def put_ids(conn: AsyncConnection, path: str, ids: list[int], facts: CacheFacts) -> None:
    """Store the id list of `path` with its cache facts."""
    values = {"path": path, "body": ids, **facts.columns()}
    await fast.transact(conn, lambda tx: tx.execute(_PUT_LIST, values))
