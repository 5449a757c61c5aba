"""The statements of `killreport copy`: reading the embedded SQLite file as one snapshot, writing the
same rows into PostgreSQL (cli/copy_cmd.py decides the order and the refusals).

Both sides are the one schema of store/tables.py, so rows move as SQLAlchemy values (times as aware
datetimes, JSON as Python values) and each dialect renders them its own way; only the identity
restart is PostgreSQL's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

from alembic.script import ScriptDirectory
from sqlalchemy import Table, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.store import tables as t
from killreport.store.migrate import alembic_config
from killreport.store.sqlite.tables import dead_letters

# Every table of tables.metadata that holds the copy or its bookkeeping, parents first.
COPIED: Final[tuple[Table, ...]] = (
    t.alliances, t.alliance_corporations, t.corporations, t.characters, t.character_tombstones,
    t.sync_pending, t.sync_failures, t.http_cache, t.changes, t.esi_request_log, t.scheduler_marks,
    t.killmails, t.killmail_participants, t.killmail_rejected, t.killmail_feed, t.killmail_holes,
    t.killmail_backfill, t.entity_snapshots, t.corporation_history, t.alliance_history,
    t.employment_intervals, t.membership_intervals,
)
# The tables of tables.metadata left behind, with why (tests hold COPIED + this to the metadata, so
# a new table has to be placed in one of them).
NOT_COPIED: Final[Mapping[str, str]] = {
    "scheduler_lease": "who leads the schedulers: the next one to lead writes it",
    "r2z2_pace": "R2Z2's recent requests and pause: the processes asking the feed next start their own",
}
BATCH_ROWS: Final = 5_000


@dataclass(frozen=True, slots=True)
class StoredLetter:
    """One dead letter of the embedded queue: its body and its headers (JSON text)."""

    body: bytes
    headers: str


@asynccontextmanager
async def snapshot(conn: AsyncConnection) -> AsyncIterator[AsyncConnection]:
    """`conn` (on a SQLite file) inside one read transaction: every read sees the same state.

    Python's sqlite3 begins a transaction only before a write, so without this BEGIN each SELECT
    would see whatever had been committed by then; in WAL mode a read transaction keeps its
    snapshot from its first read on, while other processes go on writing."""
    await conn.exec_driver_sql("BEGIN")
    try:
        yield conn
    finally:
        await conn.rollback()


def head_revision(database_url: str) -> str | None:
    """The newest migration of the store `database_url` names (what a current file is at)."""
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


async def batches(conn: AsyncConnection, table: Table) -> AsyncIterator[list[dict[str, Any]]]:
    """The rows of `table`, in key order, BATCH_ROWS at a time, as they go into the target."""
    result = await conn.stream(select(table).order_by(*table.primary_key.columns))
    async for part in result.mappings().partitions(BATCH_ROWS):
        rows = [dict(row) for row in part]
        if table is t.sync_pending:
            # The embedded queue's messages stay behind, and so do the runner's claims: unpublished,
            # unclaimed rows are what the distributed workers' janitor publishes to RabbitMQ.
            rows = [{**row, "published": False, "claimed_until": None} for row in rows]
        yield rows


async def insert_rows(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows as they are, keys included: one executemany (asyncpg pipelines the rows through one
    prepared INSERT; a multi-row VALUES of a batch of wide rows would pass PostgreSQL's 32,767
    parameters)."""
    if rows:
        await conn.execute(insert(table), rows)


async def tables_holding_rows(conn: AsyncConnection) -> list[str]:
    """The COPIED tables that hold at least one row (the target of a copy must hold none)."""
    holding = []
    for table in COPIED:
        if (await conn.execute(select(literal(1)).select_from(table).limit(1))).first() is not None:
            holding.append(table.name)
    return holding


async def stored_dead_letters(conn: AsyncConnection) -> list[StoredLetter]:
    """Every dead letter of the embedded queue, oldest first."""
    d = dead_letters.c
    rows = await conn.execute(select(d.body, d.headers).order_by(d.seq))
    return [StoredLetter(r.body, r.headers) for r in rows]


async def restart_identities_postgresql(conn: AsyncConnection) -> None:
    """PostgreSQL: move each copied identity column's sequence past its largest id, so the next row
    inserted (a new change) gets a new id instead of colliding with a copied one.

    setval is not undone by a rollback: call it last, just before the commit (if the commit fails,
    ids merely start higher)."""
    for table in COPIED:
        for column in table.columns:
            if column.identity is None:
                continue
            sequence = func.pg_get_serial_sequence(literal(table.name), literal(column.name))
            await conn.execute(select(func.setval(sequence, func.max(column))).select_from(table)
                               .having(func.max(column).is_not(None)))
