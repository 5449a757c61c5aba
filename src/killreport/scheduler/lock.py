"""Electing the one active scheduler: a PostgreSQL session advisory lock on a dedicated connection.

The lock belongs to the session, so it goes when the connection goes: a clean stop, a crash or a
SIGKILL (the kernel closes the socket, the server ends the session at once). Standbys try to take
it every SCHEDULER_POLL_S, so one of them leads within about that long.

The leader renews its lease row through the same connection every SCHEDULER_HEARTBEAT_S. That
proves the session, and so the lock, is still there; when a renewal fails or hangs, the leader
stops acting at once, before the server has necessarily noticed, so two never act together.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from killreport.config import Settings
from killreport.services import open_store
from killreport.store.interface import ScheduleQueries
from killreport.worker.session import SESSION_FAILURES as _FAILURES
from killreport.worker.session import holder_name, take_session_lock

log = structlog.get_logger("killreport.scheduler")


class Leadership:
    """The held lock: renew the lease while it lasts, give it back on the way out."""

    def __init__(self, engine: AsyncEngine, queries: ScheduleQueries, conn: AsyncConnection, holder: str,
                 settings: Settings) -> None:
        self._engine, self._q, self._conn, self.holder = engine, queries, conn, holder
        self._every = settings.scheduler_heartbeat_s
        # A renewal slower than this counts as failed: the leader must step down before a standby
        # could have taken over, and a hung connection gives no error of its own.
        self._timeout = max(1.0, 2 * self._every)

    async def keep(self) -> None:
        """Renew the lease every heartbeat; return as soon as a renewal fails (the lock may be gone)."""
        while True:
            await asyncio.sleep(self._every)
            try:
                await asyncio.wait_for(self._renew(), self._timeout)
            except _FAILURES as exc:
                log.warning("scheduler lost its database session; stepping down",
                            error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                return

    async def _renew(self) -> None:
        if not await self._q.heartbeat(self._conn, self.holder):
            # Somebody rewrote the row (by hand?): the lock is still ours, so say so again.
            await self._q.claim_lease(self._conn, self.holder)

    async def release(self) -> None:
        """Drop the lease and the lock, and close the session (which drops the lock in any case)."""
        with contextlib.suppress(*_FAILURES):
            await asyncio.wait_for(self._clear(), self._timeout)
        with contextlib.suppress(*_FAILURES):
            await asyncio.wait_for(self._conn.close(), self._timeout)
        await self._engine.dispose()

    async def _clear(self) -> None:
        await self._q.drop_lease(self._conn, self.holder)
        await self._q.unlock(self._conn)


async def acquire(settings: Settings, stop: asyncio.Event) -> Leadership | None:
    """Wait until this process holds the lock (then it leads), or until `stop` (None)."""
    holder = holder_name()
    # NullPool: closing the connection really ends the session, so the lock never lingers in a pool.
    store = open_store(settings, dedicated=True)

    async def lead(conn: AsyncConnection) -> bool:
        if not await store.schedule.try_lock(conn):
            return False
        await store.schedule.claim_lease(conn, holder)
        return True

    conn = await take_session_lock(store.engine, lead, stop, poll_s=settings.scheduler_poll_s,
                                   max_delay_s=settings.reconnect_max_delay_s, who="scheduler")
    if conn is None:
        await store.engine.dispose()
        return None
    log.info("scheduler is active", holder=holder)
    return Leadership(store.engine, store.schedule, conn, holder, settings)
