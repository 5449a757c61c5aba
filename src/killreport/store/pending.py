"""The pending set: one row per entity that was asked for and is not finished.

It is what deduplicates work (queueing an entity that is pending or fresh does nothing), what a
worker claims before fetching (so two copies of one message never fetch twice), and what
`sync-all --wait` counts down. A row is `published` once its message is confirmed by the broker;
rows that never got there are re-published by the janitor.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Exists,
    Float,
    Text,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import ReturningInsert

from killreport.ids import Kind
from killreport.store import tables as t

_FINISH = "DELETE FROM sync_pending WHERE kind = :kind AND id = :id"
# One round trip for both deletes: this is on every job's path.
_FINISH_STORED = (
    "WITH f AS (DELETE FROM sync_failures WHERE kind = :kind AND id = :id)"
    " DELETE FROM sync_pending WHERE kind = :kind AND id = :id"
)


_UNPUBLISHED = (
    "SELECT id FROM sync_pending WHERE kind = :kind AND NOT published"
    " AND queued_at <= now() - make_interval(secs => :age) ORDER BY queued_at LIMIT :limit"
)
_UNPUBLISHED_AMONG = (
    "SELECT id FROM sync_pending WHERE kind = :kind AND NOT published"
    " AND queued_at <= now() - make_interval(secs => :age) AND id = ANY(CAST(:ids AS bigint[]))"
    " ORDER BY queued_at LIMIT :limit"
)


@functools.cache
def claim_statement() -> ReturningInsert[tuple[int]]:
    """Claim (:kind, :id) for :ttl seconds; returns `attempts` only when the claim was won."""
    p = t.sync_pending
    now = func.clock_timestamp()
    until = now + literal_column("interval '1 second'") * bindparam("ttl", type_=Float)
    stmt = pg_insert(p).values(kind=bindparam("kind", type_=Text), id=bindparam("id", type_=BigInteger),
                               queued_at=func.now(), claimed_until=until, published=true(),
                               attempts=literal_column("0"))
    return stmt.on_conflict_do_update(
        index_elements=[p.c.kind, p.c.id],
        set_={"claimed_until": stmt.excluded.claimed_until, "published": true()},
        where=or_(p.c.claimed_until.is_(None), p.c.claimed_until < now),
    ).returning(p.c.attempts)


async def release(conn: AsyncConnection, kind: Kind, entity_id: int, attempts: int,
                  hold_until: dt.datetime | None = None) -> None:
    """Give the entity back (it waits in a retry queue), remembering how often it was tried.

    `hold_until` keeps it claimed until then: a first sighting whose answer was unusable has no row
    to keep that answer's Expires in, and no job may ask for it again before that.
    """
    await conn.execute(
        text(
            "UPDATE sync_pending SET claimed_until = :hold, attempts = :attempts"
            " WHERE kind = :kind AND id = :id"
        ),
        {"kind": kind, "id": entity_id, "attempts": attempts, "hold": hold_until},
    )


async def finish(conn: AsyncConnection, kind: Kind, entity_id: int, *, stored: bool = False) -> None:
    """The entity is done (stored, tombstoned or recorded as failed); `stored` clears old failures."""
    await conn.execute(text(_FINISH_STORED if stored else _FINISH), {"kind": kind, "id": entity_id})


async def add(
    conn: AsyncConnection, kind: Kind, ids: Iterable[int], *, skip_fresh: bool, published: bool = False
) -> list[int]:
    """Insert not-yet-pending ids (skipping fresh ones if asked); return those newly added."""
    result = await conn.execute(add_statement(kind, skip_fresh=skip_fresh, published=published),
                                {"add_ids": sorted(set(ids))})
    return [r.id for r in result]


@functools.cache
def add_statement(kind: Kind, *, skip_fresh: bool, published: bool) -> ReturningInsert[tuple[int]]:
    """Add :add_ids of `kind` that are not pending, tombstoned or (if asked) fresh; returns added ids."""
    p = t.sync_pending
    u = func.unnest(bindparam("add_ids", type_=ARRAY(BigInteger))).table_valued("id").render_derived("u")
    chosen = select(literal(kind, Text), u.c.id, func.now(), null(), literal(published), literal_column("0"))
    for skip in _skipped(kind, u.c.id, skip_fresh):
        chosen = chosen.where(~skip)
    columns = ["kind", "id", "queued_at", "claimed_until", "published", "attempts"]
    return pg_insert(p).from_select(columns, chosen).on_conflict_do_nothing(
        index_elements=[p.c.kind, p.c.id]).returning(p.c.id)


def _skipped(kind: Kind, entity_id: ColumnElement[int], skip_fresh: bool) -> list[Exists]:
    """Why an id is not worth queueing: a deleted character always, a fresh row if asked."""
    skips = [exists().where(t.character_tombstones.c.id == entity_id)] if kind == "character" else []
    if skip_fresh:
        table = t.ENTITY_TABLES[kind]
        fresh = [table.c.expires_at > func.now()]
        if kind == "alliance":
            fresh.append(table.c.members_expires_at > func.now())
        skips.append(exists().where(table.c.id == entity_id, *fresh))
    return skips


async def among(conn: AsyncConnection, kind: Kind, ids: Iterable[int]) -> list[int]:
    """Which of `ids` are pending."""
    result = await conn.execute(
        text("SELECT id FROM sync_pending WHERE kind = :kind AND id = ANY(CAST(:ids AS bigint[]))"),
        {"kind": kind, "ids": sorted(set(ids))},
    )
    return [r.id for r in result]


async def unpublished(
    conn: AsyncConnection,
    kind: Kind,
    ids: Iterable[int] | None = None,
    *,
    older_than_s: float = 0.0,
    limit: int = 10_000,
) -> list[int]:
    """Pending ids of `kind` whose message was never confirmed (optionally among `ids`)."""
    result = await conn.execute(
        text(_UNPUBLISHED if ids is None else _UNPUBLISHED_AMONG),
        {"kind": kind, "ids": sorted(set(ids or ())), "age": older_than_s, "limit": limit},
    )
    return [r.id for r in result]


async def mark_published(conn: AsyncConnection, kind: Kind, ids: Sequence[int]) -> None:
    """Record that the broker confirmed these messages."""
    await conn.execute(
        text(
            "UPDATE sync_pending SET published = true"
            " WHERE kind = :kind AND id = ANY(CAST(:ids AS bigint[]))"
        ),
        {"kind": kind, "ids": list(ids)},
    )


async def counts(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    """Per kind: pending in all, claimed now (in flight), waiting after a failed attempt."""
    result = await conn.execute(
        text(
            "SELECT kind, count(*) AS pending,"
            " count(*) FILTER (WHERE claimed_until > clock_timestamp()) AS in_flight,"
            " count(*) FILTER (WHERE attempts > 0 AND (claimed_until IS NULL"
            "   OR claimed_until <= clock_timestamp())) AS retrying"
            " FROM sync_pending GROUP BY kind"
        )
    )
    return {
        r.kind: {"pending": r.pending, "in_flight": r.in_flight, "retrying": r.retrying}
        for r in result
    }


async def forget_unclaimed(conn: AsyncConnection) -> int:
    """Drop pending rows nobody is working on (their messages were just purged)."""
    result = await conn.execute(text(
        "DELETE FROM sync_pending WHERE claimed_until IS NULL OR claimed_until < clock_timestamp()"))
    return int(result.rowcount or 0)
