"""AdminQueries, both stores: counts, freshness, request counts, changes, the budget snapshot.

The statements are written once (pending.py, freshness.py, request_counts.py, changes.py, and the
counts below), given the connection's idioms. The budget's snapshot is each dialect's own reader:
PostgreSQL's PL/pgSQL tables (store/budget.py) on the driver, SQLite's runner row
(store/sqlite/budget.py).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Select,
    Table,
    bindparam,
    case,
    cast,
    column,
    func,
    inspect,
    literal,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain.budget import BudgetSnapshot
from killreport.domain.budget_rules import Rules
from killreport.store import tables as t
from killreport.store.changes import recent as recent_changes
from killreport.store.dialects import SQLITE, Idioms, of
from killreport.store.freshness import per_kind as freshness
from killreport.store.pending import counts as pending_counts
from killreport.store.raw import on_driver
from killreport.store.request_counts import add as add_request_counts
from killreport.store.request_counts import recent as recent_requests
from killreport.store.request_counts import totals as request_totals
from killreport.store.sqlite import budget as sqlite_budget

__all__ = [
    "add_request_counts", "budget_snapshot", "entity_counts", "freshness", "pending_counts", "ping",
    "recent_changes", "recent_requests", "request_totals", "schema_version",
]

_PING = text("SELECT 1")
_VERSION = text("SELECT version_num FROM alembic_version")
# What `status` counts, by the name it shows.
_COUNTED: Final[Mapping[str, Table]] = {
    "alliances": t.alliances, "corporations": t.corporations, "characters": t.characters,
    "deleted_characters": t.character_tombstones, "failures": t.sync_failures}
# On PostgreSQL a table estimated to hold at least this many rows is not counted: its estimate is
# shown (counting twenty million rows reads them all, on every `status` and every progress line).
ESTIMATE_FROM: Final = 100_000
_pg_class = table("pg_class", column("oid", REGCLASS), column("reltuples", Float), column("relpages", Float))


def _estimate(name: str) -> ColumnElement[Any]:
    """PostgreSQL's planner's own estimate of a table's rows: rows per page at the last ANALYZE (or
    VACUUM) times its pages now, so it follows the table's growth between them; -1 if never read."""
    c = _pg_class.c
    block = cast(func.current_setting("block_size"), Integer)
    pages_now = func.pg_relation_size(cast(literal(name), REGCLASS)) / block
    per_page = case((c.relpages > 0, c.reltuples / c.relpages * pages_now), else_=c.reltuples)
    return select(per_page).where(c.oid == cast(literal(name), REGCLASS)).scalar_subquery()


def _counted(name: str, of: Table, sql: Idioms) -> ColumnElement[Any]:
    count = select(func.count()).select_from(of).scalar_subquery()
    if sql is SQLITE:
        return count.label(name)
    # The count is an InitPlan, run only when the CASE reaches it: for a table estimated small.
    estimate = _estimate(of.name)
    return case((estimate >= bindparam("exact_below", type_=Float), cast(estimate, BigInteger)),
                else_=count).label(name)


@functools.cache
def counts_statement(sql: Idioms) -> Select[Any]:
    """Rows per table users care about: counted, or on PostgreSQL estimated past :exact_below rows."""
    return select(*(_counted(name, of, sql) for name, of in _COUNTED.items()))


async def ping(conn: AsyncConnection) -> None:
    """Raise unless the database answers a trivial query."""
    await conn.execute(_PING)


async def schema_version(conn: AsyncConnection) -> str | None:
    """The Alembic revision; None when the database has no killreport schema (no alembic_version)."""
    # Asked first rather than caught: a database another program made is not an error to recover
    # from (and on PostgreSQL the error would end the caller's transaction).
    if not await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version")):
        return None
    return (await conn.execute(_VERSION)).scalar()


async def entity_counts(conn: AsyncConnection, exact_below: int = ESTIMATE_FROM) -> dict[str, int]:
    """Rows per table users care about: exact, but PostgreSQL's estimate for a table past `exact_below`."""
    found = (await conn.execute(counts_statement(of(conn)), {"exact_below": exact_below})).mappings().one()
    return {k: int(v) for k, v in found.items()}


async def budget_snapshot(conn: AsyncConnection, rules: Rules, now: float | None = None) -> BudgetSnapshot:
    """The shared budget as `status` shows it, by `rules`, at `now` (None: the database's clock)."""
    if conn.dialect.name == "sqlite":
        return await sqlite_budget.budget_snapshot(conn, rules, now)
    # The PL/pgSQL's view of its tables, read on the driver connection.
    # Imported here: store/budget.py loads asyncpg (~25 ms), which an embedded command never needs
    # (tests/embedded/test_imports.py).
    from killreport.store import budget

    return await on_driver(conn, "budget snapshot", lambda driver: budget.read_snapshot(driver, rules, now))
