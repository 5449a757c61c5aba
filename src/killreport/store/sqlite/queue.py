"""The embedded job queue's SQL: queue_messages and dead_letters (queue/table.py drives them).

A message's `queue` is where it sits: a main queue, or a retry tier (`<main>.retry.<n>`) until its
`not_before` passes, after which it is ready in its main queue exactly as RabbitMQ's TTL would move
it. Tiers are matched by prefix, not by the configured names, so messages parked under retry delays
that have since changed are still delivered.

This module is all of the SQLite store that queue/table.py uses (`__all__`): the statements, the
connections they run on, and BEGIN IMMEDIATE for the counted purges.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Float,
    Integer,
    LargeBinary,
    Text,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from killreport.store.interface import Connections, Pooled
from killreport.store.sqlite import fast
from killreport.store.sqlite.lent import LentConnection
from killreport.store.sqlite.tables import dead_letters, queue_messages
from killreport.store.sqlite.write import immediate

__all__ = [
    "Connections", "Letter", "Row", "connections", "count_dead", "counts", "delete_dead", "delete_messages",
    "delete_queues", "immediate", "insert_dead", "insert_messages", "peek_dead", "ready", "tier_prefix",
]

_q = queue_messages.c


@dataclass(frozen=True, slots=True)
class Row:
    """One stored message."""

    seq: int
    queue: str
    body: bytes
    not_before: float


@dataclass(frozen=True, slots=True)
class Letter:
    """One stored dead letter: its body and its headers (JSON text)."""

    seq: int
    body: bytes
    headers: str


_DELETE_ONE = delete(queue_messages).where(_q.seq == bindparam("s", type_=Integer),
                                           _q.queue == bindparam("q", type_=Text),
                                           _q.body == bindparam("b", type_=LargeBinary))


def connections(engine: AsyncEngine, *, lend: bool) -> Connections:
    """The queue's connections: one lent in turn (`lend`, the runner's queue: lent.py says why), or pooled."""
    return LentConnection(engine) if lend else Pooled(engine)


def tier_prefix(main: str) -> str:
    """What the names of `main`'s retry tiers start with (topology.retry_queue_name)."""
    return f"{main}.retry."


def _tiers_of(main: str) -> ColumnElement[bool]:
    # A range, not LIKE: it uses the (queue, not_before, seq) index. '/' follows '.' in ASCII.
    prefix = tier_prefix(main)
    return and_(_q.queue >= prefix, _q.queue < prefix[:-1] + "/")


# The consumer's three statements run through store/sqlite/fast.py (compiled once, no SQLAlchemy
# execution): they are on every job's path, as the store's are.
_INSERT: Final = insert(queue_messages).values(
    queue=bindparam("queue", type_=Text), body=bindparam("body", type_=LargeBinary),
    not_before=bindparam("not_before", type_=Float))


async def insert_messages(conn: AsyncConnection, queue: str, bodies: Sequence[bytes],
                          not_before: float) -> None:
    """Add messages to `queue` (a main queue or a tier), ready once `not_before` has passed."""
    if bodies:
        rows = [{"queue": queue, "body": body, "not_before": not_before} for body in bodies]
        await fast.transact(conn, lambda tx: tx.many(_INSERT, rows))


@functools.cache
def _ready_statement(mains: tuple[str, ...]) -> CompoundSelect[Any]:
    # One part per main queue and per main's tiers, each reading the (queue, not_before, seq) index
    # in order; rows handed out already (`held`, a JSON array) are skipped.
    held = select(func.json_each(bindparam("held", type_=Text)).table_valued("value").c.value)
    parts = []
    for where in [*(_q.queue == m for m in mains), *(_tiers_of(m) for m in mains)]:
        part = (select(_q.seq, _q.queue, _q.body, _q.not_before)
                .where(where, _q.not_before <= bindparam("now", type_=Float), _q.seq.not_in(held))
                .order_by(_q.not_before, _q.seq).limit(bindparam("limit", type_=Integer)).subquery())
        parts.append(select(*part.c))
    return union_all(*parts)


async def ready(conn: AsyncConnection, mains: Sequence[str], now: float, held: Collection[int],
                limit: int) -> list[Row]:
    """Up to `limit` ready messages of each main queue (its tiers' due ones included), oldest first."""
    params = {"now": now, "limit": limit, "held": json.dumps(list(held))}
    found = await fast.read(conn, lambda tx: tx.rows(_ready_statement(tuple(mains)), params))
    return [Row(r["seq"], r["queue"], r["body"], r["not_before"]) for r in found]


async def delete_messages(conn: AsyncConnection, rows: Sequence[Row]) -> None:
    """Forget acked messages (one transaction, many rows); a row purged meanwhile is simply gone."""
    # Queue and body too: SQLite may reuse a purged seq, and the new row must not go with the old.
    params = [{"s": r.seq, "q": r.queue, "b": r.body} for r in rows]
    await fast.transact(conn, lambda tx: tx.many(_DELETE_ONE, params))


async def counts(conn: AsyncConnection, now: float) -> dict[tuple[str, bool], int]:
    """How many messages each stored queue name holds, split by due (True) or not yet."""
    due = _q.not_before <= now
    rows = await conn.execute(select(_q.queue, due.label("due"), func.count())
                              .group_by(_q.queue, due))
    return {(r[0], bool(r[1])): int(r[2]) for r in rows}


async def delete_queues(conn: AsyncConnection, mains: Sequence[str]) -> int:
    """Drop every message of the main queues and their tiers; return how many."""
    result = await conn.execute(delete(queue_messages).where(
        or_(_q.queue.in_(list(mains)), *(_tiers_of(m) for m in mains))))
    return int(result.rowcount)


async def insert_dead(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """Add one dead letter (the columns of dead_letters, `seq` aside)."""
    await conn.execute(insert(dead_letters).values(**values))


async def peek_dead(conn: AsyncConnection, limit: int, after: int = 0) -> list[Letter]:
    """Up to `limit` dead letters after seq `after`, oldest first."""
    d = dead_letters.c
    rows = await conn.execute(select(d.seq, d.body, d.headers).where(d.seq > after)
                              .order_by(d.seq).limit(limit))
    return [Letter(r.seq, r.body, r.headers) for r in rows]


async def delete_dead(conn: AsyncConnection, seq: int | None = None) -> int:
    """Drop one dead letter (or all of them, without `seq`); return how many went."""
    statement = delete(dead_letters)
    if seq is not None:
        statement = statement.where(dead_letters.c.seq == seq)
    return int((await conn.execute(statement)).rowcount)


async def count_dead(conn: AsyncConnection) -> int:
    """How many dead letters there are."""
    return int((await conn.execute(select(func.count()).select_from(dead_letters))).scalar_one())
