"""The hot statements on SQLite, straight to sqlite3: compiled once, a whole transaction in one call.

Every statement is still written once, in SQLAlchemy Core (jobs.py, queue.py); what this module
skips is SQLAlchemy's execution of it. py-spy on the embedded runner (bench/embedded.py
--py-spy-gil, 600 alliances, 2026-11-30) put 43 % of its CPU in SQLAlchemy's own frames: a
statement's compile-cache lookup, event dispatch, greenlet hops, result wrapping, and each
`atomic` block's BEGIN and COMMIT as statements of their own. Here a statement is compiled once for
the engine's dialect, its parameters and result columns converted by the types' own processors
(UtcEpoch, JSON, Boolean: what SQLAlchemy would apply), and a transaction's statements run in one
synchronous call on the driver's connection (store/sqlite/driver.py): one step of the event loop,
no hand-offs. Errors come out as SQLAlchemy's (DBAPIError and its kinds), as from an execute.

Transactions, as jobs.atomic decides them: on an autocommit connection (the job's), BEGIN
IMMEDIATE ... COMMIT around the work, ROLLBACK if it raises; inside a caller's transaction, the
work joins it; in a caller's `store.begin()` that has not written yet, BEGIN IMMEDIATE, committed
by the caller. A BEGIN IMMEDIATE that finds the write lock held changed nothing: the driver runs
the whole call again on its thread, where SQLite waits for the lock.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import ClauseElement as Executable

from killreport.store.sqlite.driver import Connection

T = TypeVar("T")
Row = dict[str, Any]
_Processor = Callable[[Any], Any] | None

_DIALECT: Final = SQLiteDialect_aiosqlite()  # the engine's (engine.py): its SQL and conversions


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement compiled once: its SQL, its parameters in order with the value each takes when
    not given (literals) and their conversions, and its result columns with theirs."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    processors: tuple[_Processor, ...]
    columns: tuple[str, ...]
    results: tuple[_Processor, ...]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for `params`."""
        values = {**self.defaults, **params} if self.defaults else params
        pairs = zip(self.names, self.processors, strict=True)
        return [values[n] if p is None else p(values[n]) for n, p in pairs]

    def row(self, raw: Sequence[Any]) -> Row:
        """One result row by column name, converted."""
        return {name: value if p is None else p(value)
                for name, p, value in zip(self.columns, self.results, raw, strict=True)}


@functools.cache
def compiled(statement: Executable) -> Compiled:
    """`statement` compiled for SQLite once per process (only ever called with cached statements)."""
    done: Any = statement.compile(dialect=_DIALECT)
    names = tuple(done.positiontup or ())
    binds = {n: done.binds[n] for n in names}
    assert not any(b.expanding or b.literal_execute for b in binds.values()), "not compiled once"
    # The result columns from the statement's public side: what a SELECT selects, what a DML
    # statement's RETURNING returns (none without one), each named as the SQL labels it.
    result_columns = list(getattr(statement, "exported_columns", ()))
    return Compiled(
        sql=str(done), names=names,
        defaults={n: b.effective_value for n, b in binds.items() if b.value is not None},
        processors=tuple(binds[n].type.dialect_impl(_DIALECT).bind_processor(_DIALECT) for n in names),
        columns=tuple(c.name for c in result_columns),
        results=tuple(c.type.dialect_impl(_DIALECT).result_processor(_DIALECT, None) for c in result_columns),
    )


class Tx:
    """The statements of one call, on the raw sqlite3 connection (synchronous)."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw

    def rows(self, statement: Executable, params: Mapping[str, Any] = {}) -> list[Row]:
        """Run a statement; its rows by column name."""
        done = compiled(statement)
        cursor = self._run(done, params)
        return [done.row(r) for r in cursor.fetchall()]

    def execute(self, statement: Executable, params: Mapping[str, Any] = {}) -> int:
        """Run a statement; how many rows it changed."""
        return int(self._run(compiled(statement), params).rowcount)

    def many(self, statement: Executable, params: Iterable[Mapping[str, Any]]) -> None:
        """Run a statement once per parameter set."""
        done = compiled(statement)
        try:
            self._raw.executemany(done.sql, [done.args(p) for p in params])
        except sqlite3.Error as exc:
            raise wrapped(done.sql, exc) from exc

    def _run(self, done: Compiled, params: Mapping[str, Any]) -> sqlite3.Cursor:
        try:
            return self._raw.execute(done.sql, done.args(params))
        except sqlite3.Error as exc:
            raise wrapped(done.sql, exc) from exc


def driver_of(conn: AsyncConnection) -> Connection:
    """The driver connection under an open AsyncConnection (store/sqlite/driver.py's)."""
    sync = conn.sync_connection
    if sync is None:
        raise RuntimeError("the connection is not open")
    found: Any = sync.connection.driver_connection
    if not isinstance(found, Connection):
        raise TypeError(f"not a killreport SQLite connection: {type(found).__name__}")
    return found


async def read(conn: AsyncConnection, work: Callable[[Tx], T]) -> T:
    """`work`'s statements as they come (reads, or writes each committing alone)."""
    driver = driver_of(conn)
    return await _call(driver, lambda raw: work(Tx(raw)), retry=not driver.in_transaction)


async def transact(conn: AsyncConnection, work: Callable[[Tx], T]) -> T:
    """`work`'s statements as one transaction (see the module for which)."""
    driver = driver_of(conn)

    def whole(raw: sqlite3.Connection) -> T:
        if raw.in_transaction:
            return work(Tx(raw))
        raw.execute("BEGIN IMMEDIATE")
        if raw.isolation_level is not None:  # the caller's begin(): its commit ends ours
            return work(Tx(raw))
        try:
            result = work(Tx(raw))
            raw.execute("COMMIT")
            return result
        except BaseException:
            if raw.in_transaction:  # SQLite rolls some errors back by itself
                raw.execute("ROLLBACK")
            raise

    return await _call(driver, whole, retry=not driver.in_transaction)


async def _call(driver: Connection, work: Callable[[sqlite3.Connection], T], *, retry: bool) -> T:
    # retry: only a call that starts outside a transaction may run again whole on the thread
    # (the driver's rule); inside one, it goes to the thread at once, waiting there for the lock.
    try:
        return await driver.call(lambda: work(driver.raw), retry=retry)
    except sqlite3.Error as exc:  # a BEGIN, COMMIT or ROLLBACK (statements raise wrapped)
        raise wrapped("BEGIN IMMEDIATE / COMMIT", exc) from exc


def wrapped(statement: str, exc: sqlite3.Error) -> DBAPIError:
    """sqlite3's error as SQLAlchemy raises it (OperationalError for "database is locked"...)."""
    error = DBAPIError.instance(statement, None, exc, sqlite3.Error)
    assert isinstance(error, DBAPIError)
    return error
