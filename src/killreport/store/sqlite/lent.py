"""The embedded store's one connection, opened once and lent to one block at a time.

Why: the SQLite store has one connection anyway (engine.py: the file is one queue, not a pool),
and taking it from SQLAlchemy's pool and giving it back costs about 140 us of CPU each time on
this 2-core VM (`async with engine.connect()` around a trivial statement, 3,000 times: 166 us,
against 25 us for the statement), twice per job: about 9 % of the embedded runner's CPU (py-spy,
bench/embedded.py). Lent, it costs an asyncio.Lock. Waiting for it is bounded as the pool's
checkout was (`wait_s`), so a block that never ends shows as an error, not a hang.

The connection is in autocommit mode: a statement commits on its own (the job's statements begin
their own transactions: fast.py), and `begin()` is an explicit BEGIN IMMEDIATE ... COMMIT, which
takes the file's write lock first, as every write transaction on the file does. A connection the
driver lost (invalidated) is replaced at the next lending.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from killreport.store.sqlite.fast import driver_of
from killreport.store.sqlite.write import immediately

WAIT_S = 30.0  # as SQLAlchemy's pool waits for a connection


class LentConnection:
    """One autocommit connection of `engine`, lent by `connect`, `autocommit` and `begin`."""

    def __init__(self, engine: AsyncEngine, *, wait_s: float = WAIT_S) -> None:
        self._engine = engine
        self._wait_s = wait_s
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()

    def _lent(self) -> _Lending:
        return _Lending(self)

    async def _take(self) -> AsyncConnection:
        """Wait for the connection (a timer only when there is a wait: it was 3 % of the CPU)."""
        if self._lock.locked():
            async with asyncio.timeout(self._wait_s):
                await self._lock.acquire()
        else:
            await self._lock.acquire()
        try:
            return await self._open()
        except BaseException:
            self._lock.release()
            raise

    async def _give(self, conn: AsyncConnection) -> None:
        try:
            await _tidy(conn)
        finally:
            self._lock.release()

    async def _open(self) -> AsyncConnection:
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                await conn.close()
            conn = await self._engine.connect()
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            self._conn = conn
        return conn

    def connect(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """The connection, for reads (and statements that commit on their own)."""
        return self._lent()

    def autocommit(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """The connection, each statement committing on its own."""
        return self._lent()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """The connection inside BEGIN IMMEDIATE: committed when the block ends, rolled back if it raises."""
        async with self._lent() as conn, immediately(conn):
            yield conn

    async def close(self) -> None:
        """Close the connection (after the block holding it, if any)."""
        async with self._lock:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None


async def _tidy(conn: AsyncConnection) -> None:
    """Leave nothing open for the next block: SQLAlchemy's own (autobegun) transaction, and a
    SQLite transaction a cancelled block may have left."""
    if conn.closed or conn.invalidated:
        return
    if driver_of(conn).in_transaction:
        await conn.exec_driver_sql("ROLLBACK")
    if conn.in_transaction():
        await conn.rollback()


class _Lending:
    """One block's turn with the connection (a class: asynccontextmanager's generator costs more)."""

    __slots__ = ("_conn", "_owner")

    def __init__(self, owner: LentConnection) -> None:
        self._owner = owner
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> AsyncConnection:
        self._conn = await self._owner._take()
        return self._conn

    async def __aexit__(self, *_exc: object) -> None:
        if self._conn is not None:
            await self._owner._give(self._conn)
