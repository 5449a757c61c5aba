"""Statements run on a PostgreSQL connection's asyncpg driver, their errors raised as SQLAlchemy's.

The job's hot statements (entities.py) and the budget's tables (budget.py, shared with PgBudget) go
straight to asyncpg; callers everywhere else handle SQLAlchemy's errors (DBAPIError and its kinds,
a lost connection invalidated), so those are what comes out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")


async def on_driver(conn: AsyncConnection, sql: str, work: Callable[[Any], Awaitable[T]]) -> T:
    """`work` on the connection's asyncpg driver; an error as SQLAlchemy raises it (`sql` names it)."""
    fairy = await conn.get_raw_connection()
    try:
        return await work(fairy.driver_connection)
    except Exception as exc:
        error = await _translated(conn, fairy.dbapi_connection, exc, sql)
        if error is exc:
            raise
        raise error from exc


async def _translated(conn: AsyncConnection, adapted: Any, exc: Exception, sql: str) -> Exception:
    """`exc` as SQLAlchemy would have raised it; a lost connection is invalidated, as it would be."""
    mapped: Exception = exc
    try:
        adapted._handle_exception(exc)  # raises asyncpg's error as the DBAPI's (the adapter's map)
    except Exception as dbapi_exc:
        mapped = dbapi_exc
    base = conn.dialect.loaded_dbapi.Error
    if not isinstance(mapped, base):
        return mapped  # not a database error (OSError, ...): SQLAlchemy lets those through too
    lost = conn.dialect.is_disconnect(mapped, adapted, None)
    if lost:
        await conn.invalidate(mapped)
    return DBAPIError.instance(sql, None, mapped, base, connection_invalidated=lost, dialect=conn.dialect)
