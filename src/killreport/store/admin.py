"""AdminQueries, both stores: counts, freshness, request counts, changes, the budget snapshot.

The statements are written once (pending.py, freshness.py, request_counts.py, changes.py, and the
counts below), given the connection's idioms. The budget's snapshot is each dialect's own reader:
PostgreSQL's PL/pgSQL tables (store/budget.py) on the driver, SQLite's runner row
(store/sqlite/budget.py).
"""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain.budget import BudgetSnapshot
from killreport.domain.budget_rules import Rules
from killreport.store.changes import recent as recent_changes
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
_COUNTS = text(
    "SELECT (SELECT count(*) FROM alliances) AS alliances,"
    " (SELECT count(*) FROM corporations) AS corporations,"
    " (SELECT count(*) FROM characters) AS characters,"
    " (SELECT count(*) FROM character_tombstones) AS deleted_characters,"
    " (SELECT count(*) FROM sync_failures) AS failures")


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


async def entity_counts(conn: AsyncConnection) -> dict[str, int]:
    """Rows per table users care about."""
    return {k: int(v) for k, v in (await conn.execute(_COUNTS)).mappings().one().items()}


async def budget_snapshot(conn: AsyncConnection, rules: Rules, now: float | None = None) -> BudgetSnapshot:
    """The shared budget as `status` shows it, by `rules`, at `now` (None: the database's clock)."""
    if conn.dialect.name == "sqlite":
        return await sqlite_budget.budget_snapshot(conn, rules, now)
    # The PL/pgSQL's view of its tables, read on the driver connection.
    # Imported here: store/budget.py loads asyncpg (~25 ms), which an embedded command never needs
    # (tests/embedded/test_imports.py).
    from killreport.store import budget

    return await on_driver(conn, "budget snapshot", lambda driver: budget.read_snapshot(driver, rules, now))
