"""Statements run on a PostgreSQL connection's asyncpg driver, their errors raised as SQLAlchemy's.

The job's hot statements (entities.py) and the budget's tables (budget.py, shared with PgBudget) go
straight to asyncpg; callers everywhere else handle SQLAlchemy's errors (DBAPIError and its kinds,
a lost connection invalidated), so those are what comes out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

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


# asyncpg's errors as the DBAPI's kinds, by asyncpg class name: the map SQLAlchemy's asyncpg adapter
# applies (its private `_asyncpg_error_translate`), written out so nothing private is called; the
# most specific class in an error's MRO wins, as there. tests/unit/test_sqlalchemy_private.py holds
# it equal to the adapter's, so an upgrade that changes theirs fails a test rather than drifting.
# By name, not class: importing asyncpg here would load it in the embedded mode too.
ASYNCPG_KINDS: Final = {
    "IntegrityConstraintViolationError": "IntegrityError",
    "PostgresError": "Error",
    "SyntaxOrAccessError": "ProgrammingError",
    "InterfaceError": "InterfaceError",
    "InvalidCachedStatementError": "InvalidCachedStatementError",
    "InternalServerError": "InternalServerError",
    "RestrictViolationError": "RestrictViolationError",
    "NotNullViolationError": "NotNullViolationError",
    "ForeignKeyViolationError": "ForeignKeyViolationError",
    "UniqueViolationError": "UniqueViolationError",
    "CheckViolationError": "CheckViolationError",
    "ExclusionViolationError": "ExclusionViolationError",
    "InternalClientError": "InternalClientError",
}


def as_dbapi_error(dbapi: Any, exc: Exception) -> Exception:
    """asyncpg's `exc` as the error of `dbapi` (a dialect's loaded_dbapi); any other as it is."""
    base: type[Exception] = dbapi.Error
    if isinstance(exc, base):
        return exc
    for cls in type(exc).__mro__:
        kind = ASYNCPG_KINDS.get(cls.__name__) if cls.__module__.startswith("asyncpg") else None
        if kind is not None:
            error: Exception = getattr(dbapi, kind)(exc.args[0] if exc.args else str(exc), exc)
            error.__cause__ = exc
            return error
    return exc


async def _translated(conn: AsyncConnection, adapted: Any, exc: Exception, sql: str) -> Exception:
    """`exc` as SQLAlchemy would have raised it; a lost connection is invalidated, as it would be."""
    base = conn.dialect.loaded_dbapi.Error
    mapped = as_dbapi_error(conn.dialect.loaded_dbapi, exc)
    if not isinstance(mapped, base):
        return mapped  # not a database error (OSError, ...): SQLAlchemy lets those through too
    lost = conn.dialect.is_disconnect(mapped, adapted, None)
    if lost:
        await conn.invalidate(mapped)
    return DBAPIError.instance(sql, None, mapped, base, connection_invalidated=lost, dialect=conn.dialect)
