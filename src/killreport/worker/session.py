"""A lock held by a PostgreSQL session: the active scheduler's and the kill feed follower's.

Each takes its advisory lock on a dedicated autocommit connection (a NullPool store: closing the
connection really ends the session, so the lock goes with the process however it dies), trying every
`poll_s`, and backing off while PostgreSQL cannot be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from killreport.worker.runner import Backoff

log = structlog.get_logger("killreport.session")
# What a session's trouble looks like. PendingRollbackError: the connection broke inside a statement
# (a restarted server) and is beyond use (tests/integration/test_killmail_follow.py met it).
SESSION_FAILURES = (DBAPIError, PendingRollbackError, OSError, TimeoutError)


def holder_name() -> str:
    """`host:pid`: who holds a lock, for `status`."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def take_session_lock(engine: AsyncEngine, try_take: Callable[[AsyncConnection], Awaitable[bool]],
                            stop: asyncio.Event, *, poll_s: float, max_delay_s: float,
                            who: str) -> AsyncConnection | None:
    """The connection on which `try_take` succeeded, once it does; None at `stop` (nothing left open)."""
    conn: AsyncConnection | None = None
    backoff = Backoff(first_s=poll_s, max_s=max_delay_s)
    while not stop.is_set():
        wait_s = poll_s
        try:
            conn = conn or await _connect(engine)
            if await asyncio.wait_for(try_take(conn), 10):
                return conn
            backoff.reset()
        except SESSION_FAILURES as exc:
            wait_s = backoff.next_delay()
            log.warning(f"{who} cannot reach PostgreSQL; retrying", retry_in_s=wait_s,
                        error=(str(exc).splitlines() or [type(exc).__name__])[0])
            await discard(conn)
            conn = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait_s)
    await discard(conn)
    return None


async def _connect(engine: AsyncEngine) -> AsyncConnection:
    conn = await asyncio.wait_for(engine.connect(), 10)
    # Autocommit: the session lives for hours and must never sit idle inside a transaction.
    await conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


async def discard(conn: AsyncConnection | None) -> None:
    """Close a session's connection, whatever state it is in."""
    if conn is not None:
        with contextlib.suppress(*SESSION_FAILURES):
            await asyncio.wait_for(conn.close(), 5)
