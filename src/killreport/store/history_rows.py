"""A fetched history into the copy: its records as ESI sent them and the intervals domain/history.py
derives from them, replaced whole, with the history's cache facts, inside the caller's transaction.

The intervals are derived before anything is written: a history the rules cannot read raises
HistoryError and leaves the copy as it was. Once stored (200 or 304), the history is wanted again
only if the copy already says its entity is elsewhere than the history's last stay: a move the
affiliation sweep or a refresh saw while the request was in flight is not lost, and is fetched
again at the next Expires.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Delete,
    Insert,
    Table,
    Update,
    bindparam,
    delete,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain import history
from killreport.domain.models import AllianceHistoryRecord, CorporationHistoryRecord
from killreport.ids import Kind
from killreport.store import tables as t
from killreport.store.entities import HISTORY_WANTED, TABLES, set_statement
from killreport.store.facts import CacheFacts, Revalidated

Record = CorporationHistoryRecord | AllianceHistoryRecord
_ID: Final = bindparam("row_id", type_=BigInteger)


@dataclass(frozen=True, slots=True)
class Shape:
    """Where one kind's history lives: its records, its intervals, their owner and holder columns, and
    the entity row's column the history's last stay should agree with."""

    records: Table
    intervals: Table
    owner: str
    holder: str


SHAPES: Final[Mapping[Kind, Shape]] = {
    "character": Shape(t.corporation_history, t.employment_intervals, "character_id", "corporation_id"),
    "corporation": Shape(t.alliance_history, t.membership_intervals, "corporation_id", "alliance_id"),
}


def stays_of(kind: Kind, records: Sequence[Record]) -> list[history.Interval]:
    """The intervals of a character's or corporation's history (HistoryError: a record is unreadable)."""
    if kind == "character":
        return history.employment(r for r in records if isinstance(r, CorporationHistoryRecord))
    return history.membership(r for r in records if isinstance(r, AllianceHistoryRecord))


def _holder_of(record: Record) -> int | None:
    return record.corporation_id if isinstance(record, CorporationHistoryRecord) else record.alliance_id


@functools.cache
def _statements(kind: Kind) -> tuple[Delete, Insert, Delete, Insert]:
    shape = SHAPES[kind]
    return (delete(shape.records).where(shape.records.c[shape.owner] == _ID), insert(shape.records),
            delete(shape.intervals).where(shape.intervals.c[shape.owner] == _ID), insert(shape.intervals))


def _still_wanted(kind: Kind) -> ColumnElement[bool]:
    """The entity row says it is somewhere other than its history's open stay (or has none)."""
    shape, table = SHAPES[kind], TABLES[kind]
    iv = shape.intervals
    last = select(iv.c[shape.holder]).where(iv.c[shape.owner] == table.c.id, iv.c.end.is_(None))
    return ~table.c[shape.holder].is_not_distinct_from(last.scalar_subquery())


@functools.cache
def _settle_statement(kind: Kind, columns: tuple[str, ...]) -> Update:
    return set_statement(kind, columns).values({HISTORY_WANTED: _still_wanted(kind)})


async def store_history(conn: AsyncConnection, kind: Kind, entity_id: int, records: Sequence[Record],
                        facts: CacheFacts) -> None:
    """Replace a character's or corporation's history and its intervals, with the history's cache facts
    (inside the caller's transaction; HistoryError before anything is written)."""
    stays = stays_of(kind, records)
    shape, (drop_records, put_records, drop_stays, put_stays) = SHAPES[kind], _statements(kind)
    params = {"row_id": entity_id}
    # A record id sent twice is stored once (the rules read the two as one record too).
    unique = {r.record_id: r for r in reversed(records)}.values()
    await conn.execute(drop_records, params)
    if records:
        await conn.execute(put_records, [{
            shape.owner: entity_id, "record_id": r.record_id, shape.holder: _holder_of(r),
            "start_date": history.start_of(r.start_date, r.record_id), "is_deleted": r.is_deleted}
            for r in unique])
    await conn.execute(drop_stays, params)
    if stays:
        await conn.execute(put_stays, [{
            shape.owner: entity_id, "start": s.start, "end": s.end, shape.holder: s.holder,
            "record_id": s.record_id} for s in stays])
    await _settle(conn, kind, entity_id, facts.columns(t.HISTORY_PREFIX))


async def revalidate_history(conn: AsyncConnection, kind: Kind, entity_id: int, checked: Revalidated) -> None:
    """A 304 for a history: its Expires and checked time move, and it is no longer wanted (unless the
    copy already says the entity moved since)."""
    await _settle(conn, kind, entity_id, checked.columns(t.HISTORY_PREFIX))


async def _settle(conn: AsyncConnection, kind: Kind, entity_id: int, values: Mapping[str, Any]) -> None:
    await conn.execute(_settle_statement(kind, tuple(sorted(values))), {**values, "row_id": entity_id})
