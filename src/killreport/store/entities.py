"""Entity rows: idempotent upserts, the cache facts that decide freshness, tombstones and failures."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Select,
    Text,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    null,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.esi.models import Entity
from killreport.ids import Kind
from killreport.store import pending, references, rows
from killreport.store import tables as t
from killreport.store.facts import CacheFacts
from killreport.store.references import References

TABLES = t.ENTITY_TABLES
_MEMBERS_FETCHED_AT = f"{t.MEMBERS_PREFIX}fetched_at"
_MEMBERS_EXPIRES_AT = f"{t.MEMBERS_PREFIX}expires_at"


@dataclass(frozen=True, slots=True)
class Stored:
    """What the database holds for one entity, as far as deciding what to fetch and queue goes.

    `references` is None when nothing is stored or the kind names nothing (a character);
    `members` is an alliance's stored member list.
    """

    fresh: bool
    references: References | None = None
    members: tuple[int, ...] | None = None
    members_fresh: bool = False
    tombstoned: bool = False


async def upsert(conn: AsyncConnection, entity_id: int, entity: Entity, facts: CacheFacts) -> None:
    """Insert or replace one entity's row; running it twice leaves the same row."""
    values = {**rows.row_of(entity), **facts.columns(), "id": entity_id}
    await conn.execute(_upsert_statement(rows.kind_of(entity), tuple(sorted(values))), values)


@functools.cache
def _upsert_statement(kind: Kind, columns: tuple[str, ...]) -> Insert:
    # Built once per shape: constructing ON CONFLICT clauses is most of an upsert's CPU cost.
    stmt = pg_insert(TABLES[kind])
    return stmt.on_conflict_do_update(
        index_elements=["id"], set_={c: stmt.excluded[c] for c in columns if c != "id"})


async def store_and_finish(
    conn: AsyncConnection, entity_id: int, entity: Entity, facts: CacheFacts,
    children: tuple[Kind, Iterable[int]] | None = None,
) -> list[int]:
    """`upsert`, `pending.add` the children (as published), finish the entity: one statement.

    Returns the children added. One statement is one transaction, so a crash leaves either all of
    it or none: never a stored entity whose children were not queued.
    """
    kind = rows.kind_of(entity)
    columns = {**rows.row_of(entity), **facts.columns()}
    values = {**columns, "id": entity_id, "kind": kind,
              "add_ids": sorted(set(children[1])) if children else []}
    statement = _store_finish_statement(kind, tuple(sorted(columns)), children[0] if children else None)
    return [r.id for r in await conn.execute(statement, values)]


@functools.cache
def _store_finish_statement(kind: Kind, columns: tuple[str, ...], child: Kind | None) -> Select[Any]:
    # Statements of the two most common jobs (characters, corporations) folded into one round
    # trip each: measured with bench/sync_all.py.
    entity_id, entity_kind = bindparam("id", type_=BigInteger), bindparam("kind", type_=Text)
    up = _upsert_statement(kind, ("id", *columns)).values(
        {"id": entity_id, **{c: bindparam(c) for c in columns}}).cte("up")
    failed = delete(t.sync_failures).where(
        t.sync_failures.c.kind == entity_kind, t.sync_failures.c.id == entity_id).cte("failed")
    done = delete(t.sync_pending).where(
        t.sync_pending.c.kind == entity_kind, t.sync_pending.c.id == entity_id).cte("done")
    if child is None:
        return select(null().label("id")).where(false()).add_cte(up, failed, done)
    added = pending.add_statement(child, skip_fresh=True, published=True).cte("added")
    return select(added.c.id).add_cte(up, failed, done)


async def replace_members(
    conn: AsyncConnection, alliance_id: int, members: Iterable[int], facts: CacheFacts
) -> None:
    """Store an alliance's current member list (the alliance row must exist)."""
    await conn.execute(
        delete(t.alliance_corporations).where(t.alliance_corporations.c.alliance_id == alliance_id)
    )
    ids = sorted(set(members))
    if ids:
        await conn.execute(
            insert(t.alliance_corporations),
            [{"alliance_id": alliance_id, "corporation_id": i} for i in ids],
        )
    await conn.execute(
        t.alliances.update()
        .where(t.alliances.c.id == alliance_id)
        .values(facts.columns(t.MEMBERS_PREFIX))
    )


async def claim_and_read(conn: AsyncConnection, kind: Kind, entity_id: int, ttl_s: float) -> Stored | None:
    """Claim the entity (`pending.claim_statement`) and read it, in one statement.

    None when another worker holds the entity right now.
    """
    params = {"kind": kind, "id": entity_id, "ttl": ttl_s}
    row = (await conn.execute(_claim_read_statement(kind), params)).mappings().first()
    return None if row is None else await _as_stored(conn, kind, entity_id, row)


async def _as_stored(conn: AsyncConnection, kind: Kind, entity_id: int, row: Mapping[str, Any]) -> Stored:
    if row["tombstoned"]:
        return Stored(fresh=True, tombstoned=True)
    if row["id"] is None:
        return Stored(fresh=False)
    fresh = _fresh(row["expires_at"], row["db_now"])
    refs = references.from_row(kind, row)
    if kind != "alliance":
        return Stored(fresh=fresh, references=refs)
    members = (await conn.execute(
        select(t.alliance_corporations.c.corporation_id)
        .where(t.alliance_corporations.c.alliance_id == entity_id)
    )).scalars().all()
    members_fresh = row[_MEMBERS_FETCHED_AT] is not None and _fresh(row[_MEMBERS_EXPIRES_AT], row["db_now"])
    return Stored(fresh=fresh, references=refs, members=tuple(members), members_fresh=members_fresh)


@functools.cache
def _claim_read_statement(kind: Kind) -> Select[Any]:
    # The claim's RETURNING row is the single row the read joins from (an outer join, so "not
    # stored" answers too): no claim, no row. The job's first two statements as one round trip
    # (measured in bench/sync_all.py).
    claimed = pending.claim_statement().cte("claimed")
    table = TABLES[kind]
    entity_id = bindparam("id", type_=BigInteger)
    tombstoned = (
        exists().where(t.character_tombstones.c.id == entity_id) if kind == "character" else false()
    )
    read = [table.c.id, table.c.expires_at, *_members_facts(kind), *references.columns(kind)]
    return select(func.now().label("db_now"), tombstoned.label("tombstoned"), *read).select_from(
        claimed.outerjoin(table, table.c.id == entity_id))


def _members_facts(kind: Kind) -> list[Column[Any]]:
    # What decides whether an alliance's member list is fresh; only alliances have one.
    if kind != "alliance":
        return []
    return [t.alliances.c[_MEMBERS_FETCHED_AT], t.alliances.c[_MEMBERS_EXPIRES_AT]]


def _fresh(expires_at: dt.datetime | None, now: dt.datetime) -> bool:
    return expires_at is not None and expires_at > now


async def tombstone(conn: AsyncConnection, character_id: int, reason: str) -> None:
    """Remember a deleted character so it is never requested again."""
    stmt = pg_insert(t.character_tombstones).values(
        id=character_id, deleted_seen_at=func.now(), reason=reason
    )
    await conn.execute(stmt.on_conflict_do_nothing())
    await conn.execute(delete(t.characters).where(t.characters.c.id == character_id))


async def record_failure(
    conn: AsyncConnection,
    kind: Kind,
    entity_id: int,
    *,
    status: int | None,
    reason: str,
    attempts: int,
    permanent: bool,
) -> None:
    """Record why an entity could not be stored (the latest failure wins)."""
    values = {
        "kind": kind,
        "id": entity_id,
        "status": status,
        "reason": reason,
        "attempts": attempts,
        "permanent": permanent,
    }
    stmt = pg_insert(t.sync_failures).values(**values, failed_at=func.now())
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["kind", "id"], set_={**values, "failed_at": func.now()}
        )
    )


async def entity_counts(conn: AsyncConnection) -> dict[str, int]:
    """Rows per table users care about."""
    result = await conn.execute(
        text(
            "SELECT (SELECT count(*) FROM alliances) AS alliances,"
            " (SELECT count(*) FROM corporations) AS corporations,"
            " (SELECT count(*) FROM characters) AS characters,"
            " (SELECT count(*) FROM character_tombstones) AS deleted_characters,"
            " (SELECT count(*) FROM sync_failures) AS failures"
        )
    )
    return dict(result.mappings().one())
