"""JobQueries on SQLite: store/entities.py's, pending.py's and http_cache.py's statements, composed
as SQLite allows (store/dialects.py names the differences).

The statements are those modules' own building blocks, given SQLite's idioms; what is SQLite's here
is only how a job composes them. Every statement is on a job's path, so each runs through
store/sqlite/fast.py: compiled once, executed by sqlite3 without SQLAlchemy's execution (43 % of
the embedded runner's CPU went there). Where PostgreSQL writes several tables in one statement (data-modifying
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
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.changes import Change
from killreport.domain.models import Entity
from killreport.ids import Kind
from killreport.store import entities, pending, rows
from killreport.store import tables as t
from killreport.store.dialects import SQLITE
from killreport.store.entities import MEMBERS_OF, Stored, stored_of
from killreport.store.facts import CacheFacts, Revalidated
from killreport.store.http_cache import fresh_statement, put_statement
from killreport.store.references import referenced_ids
from killreport.store.sqlite import fast
from killreport.store.sqlite.fetch_lock import fetch_lock
from killreport.store.sqlite.schedule import record

__all__ = [
    "add", "among", "claim_and_read", "defer", "fetch_lock", "finish", "forget_unclaimed", "fresh_ids",
    "mark_published", "put_ids", "record_failure", "referenced_ids", "release", "replace_members",
    "revalidate", "revalidate_and_finish", "store", "store_and_finish", "tombstone", "unpublished",
]

_ids = SQLITE.id_list


# ---- claim and read --------------------------------------------------------------------------------

@functools.cache
def _read_statement(kind: Kind) -> Select[Any]:
    # One row whether or not the entity is stored (an outer join from a one-row select), as the
    # PostgreSQL statement reads from its claim's row: "not stored" and "tombstoned" answer too.
    return entities.read_from(kind, select(literal(1).label("one")).subquery("one"), SQLITE)


async def claim_and_read(conn: AsyncConnection, kind: Kind, entity_id: int, ttl_s: float) -> Stored | None:
    """Claim the entity for `ttl_s` and read what is stored; None if another claim holds it."""
    def work(tx: fast.Tx) -> Stored | None:
        claim = tx.rows(pending.claim_statement(SQLITE), {"kind": kind, "id": entity_id, "ttl": ttl_s})
        if not claim:
            return None
        # Judged at the claim's instant: the read is another statement, a moment later.
        stored = stored_of(kind, tx.rows(_read_statement(kind), {"id": entity_id})[0], claim[0]["db_now"])
        if stored.members is None:
            return stored
        members = sorted(r["corporation_id"] for r in tx.rows(MEMBERS_OF, {"id": entity_id}))
        return dataclasses.replace(stored, members=tuple(members))

    return await fast.transact(conn, work)


# ---- writing the copy ------------------------------------------------------------------------------

def _upsert(tx: fast.Tx, entity_id: int, entity: Entity, facts: CacheFacts) -> Kind:
    kind = rows.kind_of(entity)
    values = {**rows.row_of(entity), **facts.columns()}
    statement = entities.upsert_statement(kind, tuple(sorted(values)), SQLITE)
    tx.execute(statement, {**values, "row_id": entity_id})
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


def _set(tx: fast.Tx, kind: Kind, entity_id: int, values: dict[str, Any]) -> None:
    tx.execute(entities.set_statement(kind, tuple(sorted(values))), {**values, "row_id": entity_id})


async def revalidate(conn: AsyncConnection, kind: Kind, entity_id: int, checked: Revalidated,
                     prefix: str = "") -> None:
    """A 304 (with `members_`: for an alliance's member list): move Expires and checked time."""
    await fast.transact(conn, lambda tx: _set(tx, kind, entity_id, checked.columns(prefix)))


async def revalidate_and_finish(conn: AsyncConnection, kind: Kind, entity_id: int, checked: Revalidated,
                                children: tuple[Kind, Iterable[int]] | None = None) -> list[int]:
    """`revalidate`, add the children (as published), finish, atomically; returns those added."""
    def work(tx: fast.Tx) -> list[int]:
        _set(tx, kind, entity_id, checked.columns())
        added = _add_children(tx, children)
        _finish(tx, kind, entity_id, stored=True)
        return added

    return await fast.transact(conn, work)


def _add_children(tx: fast.Tx, children: tuple[Kind, Iterable[int]] | None) -> list[int]:
    if children is None:
        return []
    return _add(tx, children[0], children[1], skip_fresh=True, published=True)


async def defer(conn: AsyncConnection, kind: Kind, entity_id: int, until: dt.datetime,
                prefix: str = "") -> None:
    """Not before `until` (an unusable answer's Expires); the copy is untouched."""
    await fast.transact(conn, lambda tx: tx.execute(entities.defer_statement(kind, prefix, SQLITE),
                                                    {"row_id": entity_id, "until": until}))


async def replace_members(conn: AsyncConnection, alliance_id: int, members: Iterable[int],
                          facts: CacheFacts, noted: Sequence[Change] = ()) -> None:
    """Store an alliance's member list, its cache facts and its changes, atomically."""
    params = {"row_id": alliance_id, "member_ids": _ids(members)}
    gone, joined = entities.members_statements(SQLITE)

    def work(tx: fast.Tx) -> None:
        tx.execute(gone, params)
        tx.execute(joined, params)
        _set(tx, "alliance", alliance_id, facts.columns(t.MEMBERS_PREFIX))
        record(tx, noted)

    await fast.transact(conn, work)


async def tombstone(conn: AsyncConnection, character_id: int, reason: str,
                    noted: Sequence[Change] = ()) -> None:
    """Record a character as deleted (its row stays), with its changes."""
    def work(tx: fast.Tx) -> None:
        tx.execute(entities.tombstone_statement(SQLITE), {"row_id": character_id, "reason": reason})
        record(tx, noted)

    await fast.transact(conn, work)


async def record_failure(conn: AsyncConnection, kind: Kind, entity_id: int, *, status: int | None,
                         reason: str, attempts: int, permanent: bool) -> None:
    """Record why an entity could not be stored (the latest failure wins)."""
    values = {"kind": kind, "id": entity_id, "status": status, "reason": reason, "attempts": attempts,
              "permanent": permanent}
    await fast.transact(conn, lambda tx: tx.execute(entities.record_failure_statement(SQLITE), values))


# ---- the pending set -------------------------------------------------------------------------------

async def release(conn: AsyncConnection, kind: Kind, entity_id: int, attempts: int,
                  hold_until: dt.datetime | None = None) -> None:
    """Give the claim back (kept until `hold_until`, if given), remembering the attempts."""
    params = {"of_kind": kind, "row_id": entity_id, "hold": hold_until, "tries": attempts}
    await fast.transact(conn, lambda tx: tx.execute(pending.release_statement(), params))


def _finish(tx: fast.Tx, kind: Kind, entity_id: int, *, stored: bool) -> None:
    params = {"kind": kind, "row_id": entity_id}
    if stored:
        tx.execute(pending.done_statement(t.sync_failures), params)
    tx.execute(pending.done_statement(t.sync_pending), params)


async def finish(conn: AsyncConnection, kind: Kind, entity_id: int, *, stored: bool = False) -> None:
    """The entity is done: leave the pending set; `stored` clears its old failures."""
    await fast.transact(conn, lambda tx: _finish(tx, kind, entity_id, stored=stored))


def _add(tx: fast.Tx, kind: Kind, ids: Iterable[int], *, skip_fresh: bool, published: bool) -> list[int]:
    statement = pending.add_statement(kind, skip_fresh=skip_fresh, published=published, sql=SQLITE)
    return [int(r["id"]) for r in tx.rows(statement, {"add_ids": _ids(ids)})]


async def add(conn: AsyncConnection, kind: Kind, ids: Iterable[int], *, skip_fresh: bool,
              published: bool = False) -> list[int]:
    """Add ids not yet pending (skipping fresh ones if asked); return those newly added."""
    return await fast.transact(
        conn, lambda tx: _add(tx, kind, ids, skip_fresh=skip_fresh, published=published))


async def among(conn: AsyncConnection, kind: Kind, ids: Iterable[int]) -> list[int]:
    """Which of `ids` are pending."""
    params = {"kind": kind, "ids": _ids(ids)}
    statement = pending.among_statement(SQLITE)
    return await fast.read(conn, lambda tx: [int(r["id"]) for r in tx.rows(statement, params)])


async def unpublished(conn: AsyncConnection, kind: Kind, ids: Iterable[int] | None = None, *,
                      older_than_s: float = 0.0, limit: int = 10_000) -> list[int]:
    """Pending ids whose message was never confirmed (among `ids`, if given)."""
    params = {"kind": kind, "age": older_than_s, "limit": limit, "ids": _ids(ids or ())}
    statement = pending.unpublished_statement(ids is not None, SQLITE)
    return await fast.read(conn, lambda tx: [int(r["id"]) for r in tx.rows(statement, params)])


async def mark_published(conn: AsyncConnection, kind: Kind, ids: Sequence[int]) -> None:
    """Record that the queue confirmed these messages."""
    params = {"of_kind": kind, "ids": _ids(ids)}
    await fast.transact(conn, lambda tx: tx.execute(pending.mark_published_statement(SQLITE), params))


async def forget_unclaimed(conn: AsyncConnection) -> int:
    """Drop pending rows nobody is working on (their messages were just purged)."""
    return await fast.transact(conn, lambda tx: tx.execute(pending.forget_unclaimed_statement(SQLITE)))


# ---- cached lists ----------------------------------------------------------------------------------

async def fresh_ids(conn: AsyncConnection, path: str) -> list[int] | None:
    """The cached id list of `path` while ESI says it is current, else None."""
    found = await fast.read(conn, lambda tx: tx.rows(fresh_statement(SQLITE), {"path": path}))
    return list(found[0]["body"]) if found else None


async def put_ids(conn: AsyncConnection, path: str, ids: list[int], facts: CacheFacts) -> None:
    """Store the id list of `path` with its cache facts."""
    values = {"path": path, "body": ids, **facts.columns()}
    await fast.transact(conn, lambda tx: tx.execute(put_statement(SQLITE), values))
