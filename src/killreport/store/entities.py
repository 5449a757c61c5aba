"""Entity rows: idempotent upserts, the cache facts that decide freshness, tombstones and failures."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    FromClause,
    Select,
    Text,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    null,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store import pending
from killreport.store import tables as t

TABLES = t.ENTITY_TABLES


@dataclass(frozen=True, slots=True)
class CacheFacts:
    """When a copy was fetched and until when ESI says it stays current."""

    fetched_at: dt.datetime
    expires_at: dt.datetime | None
    etag: str | None
    last_modified: dt.datetime | None

    def columns(self, prefix: str = "") -> dict[str, Any]:
        """As row columns, optionally prefixed (`members_`)."""
        return {
            f"{prefix}fetched_at": self.fetched_at,
            f"{prefix}expires_at": self.expires_at,
            f"{prefix}etag": self.etag,
            f"{prefix}last_modified": self.last_modified,
        }


@dataclass(frozen=True, slots=True)
class Stored:
    """What the database holds for one entity, as far as deciding what to fetch goes."""

    row: Mapping[Any, Any] | None
    fresh: bool
    members: list[int] | None = None
    members_fresh: bool = False
    tombstoned: bool = False


async def upsert(
    conn: AsyncConnection, kind: Kind, entity_id: int, row: Mapping[str, Any], facts: CacheFacts
) -> None:
    """Insert or replace one entity row; running it twice leaves the same row."""
    values = {**row, **facts.columns(), "id": entity_id}
    await conn.execute(_upsert_statement(kind, tuple(sorted(values))), values)


@functools.cache
def _upsert_statement(kind: Kind, columns: tuple[str, ...]) -> Insert:
    # Built once per shape: constructing ON CONFLICT clauses is most of an upsert's CPU cost.
    stmt = pg_insert(TABLES[kind])
    return stmt.on_conflict_do_update(
        index_elements=["id"], set_={c: stmt.excluded[c] for c in columns if c != "id"})


async def store_and_finish(
    conn: AsyncConnection, kind: Kind, entity_id: int, row: Mapping[str, Any], facts: CacheFacts,
    children: tuple[Kind, Iterable[int]] | None = None,
) -> list[int]:
    """`upsert`, `pending.add` the children (as published), finish the entity: one statement.

    Returns the children added. One statement is one transaction, so a crash leaves either all of
    it or none: never a stored entity whose children were not queued.
    """
    values = {**row, **facts.columns(), "id": entity_id, "kind": kind,
              "add_ids": sorted(set(children[1])) if children else []}
    columns = tuple(sorted({*row, *facts.columns()}))
    statement = _store_finish_statement(kind, columns, children[0] if children else None)
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
        .values(facts.columns("members_"))
    )


async def stored(conn: AsyncConnection, kind: Kind, entity_id: int) -> Stored:
    """The stored row (if any), whether it is fresh, and for alliances the member list."""
    row = (await conn.execute(_stored_statement(kind), {"id": entity_id})).mappings().one()
    return await _as_stored(conn, kind, entity_id, row)


async def claim_and_read(conn: AsyncConnection, kind: Kind, entity_id: int, ttl_s: float) -> Stored | None:
    """`pending.claim`, then `stored`, in one statement; None when another worker holds the entity."""
    params = {"kind": kind, "id": entity_id, "ttl": ttl_s}
    row = (await conn.execute(_claim_read_statement(kind), params)).mappings().first()
    return None if row is None else await _as_stored(conn, kind, entity_id, row)


async def _as_stored(conn: AsyncConnection, kind: Kind, entity_id: int, row: Mapping[Any, Any]) -> Stored:
    if row["tombstoned"]:
        return Stored(row=None, fresh=True, tombstoned=True)
    if row["id"] is None:
        return Stored(row=None, fresh=False)
    fresh = _fresh(row["expires_at"], row["db_now"])
    if kind != "alliance":
        return Stored(row=row, fresh=fresh)
    members = (await conn.execute(
        select(t.alliance_corporations.c.corporation_id)
        .where(t.alliance_corporations.c.alliance_id == entity_id)
    )).scalars().all()
    members_fresh = row["members_fetched_at"] is not None and _fresh(
        row["members_expires_at"], row["db_now"])
    return Stored(row=row, fresh=fresh, members=list(members), members_fresh=members_fresh)


@functools.cache
def _stored_statement(kind: Kind) -> Select[Any]:
    # One round trip, built once per kind: an outer join from a single row, so "not stored" answers.
    return _read_from(kind, select(literal(1).label("one")).subquery())


@functools.cache
def _claim_read_statement(kind: Kind) -> Select[Any]:
    # The claim's RETURNING row is the single row the read joins from: no claim, no row.
    # The job's first two statements as one round trip (measured in bench/sync_all.py).
    return _read_from(kind, pending.claim_statement().cte("claimed"))


def _read_from(kind: Kind, one_row: FromClause) -> Select[Any]:
    table = TABLES[kind]
    entity_id = bindparam("id", type_=BigInteger)
    tombstoned = (
        exists().where(t.character_tombstones.c.id == entity_id) if kind == "character" else false()
    )
    return select(func.now().label("db_now"), tombstoned.label("tombstoned"), *table.c).select_from(
        one_row.outerjoin(table, table.c.id == entity_id))


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


async def clear_failure(conn: AsyncConnection, kind: Kind, entity_id: int) -> None:
    """Forget an earlier failure once the entity stored."""
    await conn.execute(
        delete(t.sync_failures).where(
            t.sync_failures.c.kind == kind, t.sync_failures.c.id == entity_id
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
