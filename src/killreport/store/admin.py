"""AdminQueries on PostgreSQL: counts, freshness, request counts, changes, the budget snapshot."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain.budget import BudgetSnapshot
from killreport.domain.budget_rules import Rules
from killreport.store import budget
from killreport.store.changes import recent as recent_changes
from killreport.store.entities import entity_counts
from killreport.store.freshness import per_kind as freshness
from killreport.store.pending import counts as pending_counts
from killreport.store.raw import on_driver
from killreport.store.request_counts import add as add_request_counts
from killreport.store.request_counts import recent as recent_requests
from killreport.store.request_counts import totals as request_totals

__all__ = [
    "add_request_counts", "budget_snapshot", "entity_counts", "freshness", "pending_counts", "ping",
    "recent_changes", "recent_requests", "request_totals", "schema_version",
]


async def ping(conn: AsyncConnection) -> None:
    """Raise unless the database answers a trivial query."""
    await conn.execute(text("SELECT 1"))


async def schema_version(conn: AsyncConnection) -> str | None:
    """The Alembic revision; None when the database has no killreport schema (no alembic_version)."""
    try:
        return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except ProgrammingError:
        await conn.rollback()
        return None


async def budget_snapshot(conn: AsyncConnection, rules: Rules, now: float | None = None) -> BudgetSnapshot:
    """The shared budget's tables (the PL/pgSQL's view of them), read on the driver connection."""
    return await on_driver(conn, "budget snapshot", lambda driver: budget.read_snapshot(driver, rules, now))
