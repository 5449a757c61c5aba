"""The pending set: one row per entity that was asked for and is not finished.

It is what deduplicates work (queueing an entity that is pending or fresh does nothing), what a
worker claims before fetching (so two copies of one message never fetch twice), and what
`sync-all --wait` counts down. A row is `published` once its message is confirmed by the broker;
rows that never got there are re-published by the janitor.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Delete,
    Exists,
    Float,
    Integer,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import ReturningInsert, Update

from killreport.ids import Kind
from killreport.store import tables as t
from killreport.store.dialects import POSTGRES, Idioms, of

_p = t.sync_pending
_PENDING_COLUMNS = ["kind", "id", "queued_at", "claimed_until", "published", "attempts"]


@functools.cache
def claim_statement(sql: Idioms = POSTGRES) -> ReturningInsert[Any]:
    """Claim (:kind, :id) for :ttl seconds; returns `attempts` (and the clock, `db_now`) only when won."""
    until = sql.after(bindparam("ttl", type_=Float))
    stmt = sql.insert(_p).values(kind=bindparam("kind", type_=Text), id=bindparam("id", type_=BigInteger),
                                 queued_at=sql.now(), claimed_until=until, published=true(),
                                 attempts=literal(0, Integer))
    returning: ReturningInsert[Any] = stmt.on_conflict_do_update(
        index_elements=[_p.c.kind, _p.c.id],
        set_={"claimed_until": stmt.excluded.claimed_until, "published": true()},
        where=or_(_p.c.claimed_until.is_(None), _p.c.claimed_until < sql.clock()),
    ).returning(_p.c.attempts, sql.clock().label("db_now"))
    return returning


@functools.cache
def release_statement() -> Update:
    """Set :hold as the claim and :tries as the attempts of (:of_kind, :row_id) (any dialect)."""
    # No parameter named like a column: in an UPDATE executed with it, it would join the SET.
    return update(_p).where(_p.c.kind == bindparam("of_kind", type_=Text),
                            _p.c.id == bindparam("row_id", type_=BigInteger)).values(
        claimed_until=bindparam("hold", type_=t.TIMESTAMP), attempts=bindparam("tries", type_=Integer))


@functools.cache
def done_statement(table: Table) -> Delete:
    """Delete (:kind, :row_id) from the pending set or the failures (any dialect)."""
    return delete(table).where(table.c.kind == bindparam("kind", type_=Text),
                               table.c.id == bindparam("row_id", type_=BigInteger))


@functools.cache
def add_statement(kind: Kind, *, skip_fresh: bool, published: bool, sql: Idioms = POSTGRES,
                  skip_held: bool = False) -> ReturningInsert[tuple[int]]:
    """Add :add_ids of `kind` that are not pending, tombstoned or (if asked) fresh; returns added ids.

    `skip_held` (discovery: the ids a kill names) also skips any stored row, fresh or not (the
    scheduler keeps those), and any id whose last fetch failed for good (a 404 asked again per kill
    would spend ESI's error limit)."""
    u = sql.ids("add_ids")
    # WHERE true: SQLite reads `INSERT ... SELECT ... ON CONFLICT` as a join's ON without one.
    chosen = select(literal(kind, Text), u, sql.now(), null(), literal(published), literal(0, Integer)).where(
        true())
    for skip in _skipped(kind, u, skip_fresh, sql):
        chosen = chosen.where(~skip)
    if skip_held:
        f = t.sync_failures
        chosen = chosen.where(~exists().where(t.ENTITY_TABLES[kind].c.id == u),
                              ~exists().where(f.c.kind == kind, f.c.id == u, f.c.permanent.is_(True)))
    insert = sql.insert(_p).from_select(_PENDING_COLUMNS, chosen)
    added: ReturningInsert[tuple[int]] = insert.on_conflict_do_nothing(
        index_elements=[_p.c.kind, _p.c.id]).returning(_p.c.id)
    return added


def _skipped(kind: Kind, entity_id: ColumnElement[int], skip_fresh: bool, sql: Idioms) -> list[Exists]:
    """Why an id is not worth queueing: a deleted character always, a fresh row if asked."""
    skips = [exists().where(t.character_tombstones.c.id == entity_id)] if kind == "character" else []
    if skip_fresh:
        table = t.ENTITY_TABLES[kind]
        fresh = [table.c.expires_at > sql.now()]
        if kind == "alliance":
            fresh.append(table.c.members_expires_at > sql.now())
        skips.append(exists().where(table.c.id == entity_id, *fresh))
    return skips


@functools.cache
def among_statement(sql: Idioms = POSTGRES) -> Select[tuple[int]]:
    """Which of :ids of :kind are pending."""
    return select(_p.c.id).where(_p.c.kind == bindparam("kind", type_=Text),
                                 _p.c.id.in_(select(sql.ids("ids"))))


@functools.cache
def unpublished_statement(among_ids: bool, sql: Idioms = POSTGRES) -> Select[tuple[int]]:
    """Unpublished ids of :kind queued :age seconds ago or earlier, oldest first, :limit (among :ids)."""
    query = select(_p.c.id).where(
        _p.c.kind == bindparam("kind", type_=Text), _p.c.published.is_(False),
        _p.c.queued_at <= sql.ago(bindparam("age", type_=Float)),
    ).order_by(_p.c.queued_at).limit(bindparam("limit", type_=Integer))
    return query.where(_p.c.id.in_(select(sql.ids("ids")))) if among_ids else query


@functools.cache
def mark_published_statement(sql: Idioms = POSTGRES) -> Update:
    """Mark :ids of :of_kind as published."""
    return update(_p).where(_p.c.kind == bindparam("of_kind", type_=Text),
                            _p.c.id.in_(select(sql.ids("ids")))).values(published=True)


@functools.cache
def forget_unclaimed_statement(sql: Idioms = POSTGRES) -> Delete:
    """Delete the pending rows nobody holds a claim on now."""
    return delete(_p).where(or_(_p.c.claimed_until.is_(None), _p.c.claimed_until < sql.clock()))

@functools.cache
def counts_statement(sql: Idioms = POSTGRES) -> Select[Any]:
    """Per kind: pending in all, claimed now (in flight), waiting after a failed attempt."""
    claimed = _p.c.claimed_until > sql.clock()
    return select(_p.c.kind, func.count().label("pending"), func.count().filter(claimed).label("in_flight"),
                  func.count().filter(and_(_p.c.attempts > 0, or_(_p.c.claimed_until.is_(None), ~claimed)))
                  .label("retrying")).group_by(_p.c.kind)


async def counts(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    """Per kind: pending in all, claimed now (in flight), waiting after a failed attempt."""
    return {r.kind: {"pending": int(r.pending), "in_flight": int(r.in_flight), "retrying": int(r.retrying)}
            for r in await conn.execute(counts_statement(of(conn)))}
