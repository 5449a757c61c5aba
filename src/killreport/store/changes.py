"""The `changes` table: every change a refresh or a sweep observed, appended, never rewritten."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Insert, Select, Text, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.changes import Change, Json
from killreport.ids import Kind
from killreport.store import tables as t
from killreport.store.dialects import Idioms, of


@dataclass(frozen=True, slots=True)
class Observed:
    """A stored change with when it was observed."""

    id: int
    change: Change
    observed_at: dt.datetime


@functools.cache
def record_statement(sql: Idioms) -> Insert:
    """Append one change (:kind, :entity_id, :field, :old_value, :new_value), observed now."""
    # Every value a bound parameter: compiled once (store/sqlite/fast.py), run once per change.
    return insert(t.changes).values(
        kind=bindparam("kind", type_=Text), entity_id=bindparam("entity_id", type_=BigInteger),
        field=bindparam("field", type_=Text),
        old_value=bindparam("old_value", type_=t.changes.c.old_value.type),
        new_value=bindparam("new_value", type_=t.changes.c.new_value.type), observed_at=sql.now())


def record_params(changes: Sequence[Change]) -> list[dict[str, Any]]:
    """`record_statement`'s parameters, one set per change."""
    return [{"kind": c.kind, "entity_id": c.entity_id, "field": c.field, "old_value": c.old,
             "new_value": c.new} for c in changes]


async def record(conn: AsyncConnection, changes: Sequence[Change]) -> None:
    """Append changes, observed now (the database's clock)."""
    if changes:
        await conn.execute(record_statement(of(conn)), record_params(changes))


def recent_statement(since: dt.datetime | None = None, kind: Kind | None = None,
                     entity_id: int | None = None, limit: int = 1000) -> Select[Any]:
    """The newest `limit` changes matching when, kind and entity, newest first."""
    c = t.changes.c
    query = select(t.changes).order_by(c.observed_at.desc(), c.id.desc()).limit(limit)
    if since is not None:
        query = query.where(c.observed_at >= since)
    if kind is not None:
        query = query.where(c.kind == kind)
    if entity_id is not None:
        query = query.where(c.entity_id == entity_id)
    return query


async def recent(conn: AsyncConnection, *, since: dt.datetime | None = None, kind: Kind | None = None,
                 entity_id: int | None = None, limit: int = 1000) -> list[Observed]:
    """The newest `limit` changes matching when, kind and entity, oldest first."""
    query = recent_statement(since, kind, entity_id, limit)
    return [_observed(r) for r in (await conn.execute(query)).mappings()][::-1]


def _observed(row: object) -> Observed:
    r = dict(row)  # type: ignore[call-overload]
    old: Json = r["old_value"]
    new: Json = r["new_value"]
    return Observed(r["id"], Change(r["kind"], r["entity_id"], r["field"], old, new), r["observed_at"])
