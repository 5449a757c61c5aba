"""Read-modify-write transactions on the SQLite file: BEGIN IMMEDIATE.

Python's sqlite3 (under aiosqlite) opens a transaction only at the first INSERT/UPDATE/DELETE, so
a SELECT before it reads outside the transaction and another process may write in between. BEGIN
IMMEDIATE takes the file's write lock first (waiting up to the busy timeout, engine.py), so what
is read is still true when the write commits: the budget and the queue's counted purges need that.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


@contextlib.asynccontextmanager
async def immediate(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside BEGIN IMMEDIATE: committed when the block ends, rolled back if it raises."""
    async with engine.connect() as conn:
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()
