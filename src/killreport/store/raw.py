"""Statements run on a PostgreSQL connection's asyncpg driver, their errors raised as SQLAlchemy's.

The job's hot statements (jobs.py, through `run`: compiled once) and the budget's tables (budget.py,
shared with PgBudget) go straight to asyncpg; callers everywhere else handle SQLAlchemy's errors
(DBAPIError and its kinds, a lost connection invalidated), so those are what comes out.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sqlalchemy import Select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
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


# The engine's dialect, for compiling the hot statements once (numeric $n parameters, as it would).
_ASYNCPG: Final = asyncpg_dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled once for asyncpg: its SQL, its parameters in $n order with the value
    each takes when not given (literals), and the conversion SQLAlchemy applies to each (JSONB)."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for `params`."""
        values = {**self.defaults, **params}
        pairs = zip(self.names, self.processors, strict=True)
        return [values[n] if p is None else p(values[n]) for n, p in pairs]


@functools.cache
def _compiled(statement: Select[Any]) -> _Compiled:
    # Only ever called with the cached statements above, so each is compiled once per process.
    compiled = statement.compile(dialect=_ASYNCPG)
    names = tuple(compiled.positiontup or ())
    binds = {n: compiled.binds[n] for n in names}
    assert not any(b.expanding or b.literal_execute for b in binds.values()), "not compiled once"
    return _Compiled(
        sql=str(compiled), names=names,
        defaults={n: b.effective_value for n, b in binds.items() if b.value is not None},
        processors=tuple(b.type.dialect_impl(_ASYNCPG).bind_processor(_ASYNCPG) for b in binds.values()))


async def run(conn: AsyncConnection, statement: Select[Any], params: Mapping[str, Any]) -> Sequence[Any]:
    """Run one of the job's hot statements; its rows (asyncpg Records, read by column name).

    On an autocommit PostgreSQL connection the compiled SQL goes straight to asyncpg: SQLAlchemy's
    execution machinery cost about 110-150 µs of worker CPU per statement on top of asyncpg's own
    (claim_and_read measured both ways), on a job's path of roughly 3 ms. Errors still come out as
    SQLAlchemy's (`DBAPIError` and its kinds; a lost connection invalidated), as callers expect.
    Anywhere else (a transaction SQLAlchemy begins lazily, another driver) it is an ordinary execute.
    """
    if conn.dialect.driver != "asyncpg" or conn.sync_connection is None or \
            conn.sync_connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        found: Sequence[Any] = (await conn.execute(statement, params)).mappings().all()
        return found
    compiled = _compiled(statement)
    return list(await on_driver(conn, compiled.sql, lambda driver: driver.fetch(compiled.sql,
                                                                                *compiled.args(params))))
