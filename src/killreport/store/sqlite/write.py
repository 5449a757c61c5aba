"""Read-modify-write transactions on the SQLite file: BEGIN IMMEDIATE.

Python's sqlite3 (under aiosqlite) opens a transaction only at the first INSERT/UPDATE/DELETE, so
a SELECT before it reads outside the transaction and another process may write in between. BEGIN
IMMEDIATE takes the file's write lock first (waiting up to the busy timeout, engine.py), so what
is read is still true when the write commits: the budget and the queue's counted purges need that.
The transaction is spelled out (BEGIN IMMEDIATE ... COMMIT) on a connection in autocommit mode, so
that SQLAlchemy's own transaction handling never begins or ends one behind it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from killreport.store.sqlite.fast import driver_of


@contextlib.asynccontextmanager
async def immediately(conn: AsyncConnection) -> AsyncIterator[AsyncConnection]:
    """`conn` (autocommit) inside BEGIN IMMEDIATE: committed when the block ends, rolled back if it raises."""
    await conn.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if driver_of(conn).in_transaction:  # SQLite rolls some errors back by itself
            await conn.exec_driver_sql("ROLLBACK")
        raise
    await conn.exec_driver_sql("COMMIT")


@contextlib.asynccontextmanager
async def immediate(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection of `engine` inside BEGIN IMMEDIATE (see `immediately`)."""
    async with engine.connect() as conn:
        # Reset when the connection goes back to the pool (SQLAlchemy restores the isolation level).
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        async with immediately(conn):
            yield conn
