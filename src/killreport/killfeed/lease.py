"""Holding the follower's place: one follower per database, the others standing by.

PostgreSQL: an advisory lock on a dedicated connection (store/killmail_lease.py), taken when free;
it goes with the connection, so a follower that dies however it dies frees it, and a standby trying
every SCHEDULER_POLL_S follows within about that long. The holder renews its heartbeat through that
same connection every SCHEDULER_HEARTBEAT_S; a renewal that fails or hangs means the lock may be
gone, and it stops following at once, before a standby could have started.

SQLite: the follower runs only in the process holding the file's runner lock, so its place is taken
as soon as it asks; the heartbeat goes through the process's own store.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.config import Settings
from killreport.services import open_store
from killreport.store.interface import Store
from killreport.worker.session import SESSION_FAILURES as _FAILURES
from killreport.worker.session import holder_name, take_session_lock

log = structlog.get_logger("killreport.killfeed")


class Place:
    """This process's place as the follower: renew it while it lasts, give it back on the way out.

    `own` is the lock's dedicated store and connection on PostgreSQL; None on SQLite."""

    def __init__(self, store: Store, own: tuple[Store, AsyncConnection] | None, settings: Settings) -> None:
        self._store, self._own, self.holder = store, own, holder_name()
        self._every = settings.scheduler_heartbeat_s
        # A renewal slower than this counts as failed: step down before a standby could take over.
        self._timeout = max(1.0, 2 * self._every)

    async def beat(self) -> None:
        """Record this process as the follower, alive now."""
        if self._own is not None:
            own, conn = self._own
            await own.killmails.follow_heartbeat(conn, self.holder)
            return
        async with self._store.begin() as conn:
            await self._store.killmails.follow_heartbeat(conn, self.holder)

    async def keep(self) -> None:
        """Beat every heartbeat; return as soon as one fails (the lock may be gone)."""
        while True:
            await asyncio.sleep(self._every)
            try:
                await asyncio.wait_for(self.beat(), self._timeout)
            except _FAILURES as exc:
                log.warning("kill feed follower lost its database session; standing by",
                            error=(str(exc).splitlines() or [type(exc).__name__])[0])
                return

    async def release(self) -> None:
        """Clear the holder, give the lock back and close its connection (which frees it anyway)."""
        with contextlib.suppress(*_FAILURES):
            await asyncio.wait_for(self._clear(), self._timeout)
        if self._own is not None:
            own, conn = self._own
            with contextlib.suppress(*_FAILURES):
                await asyncio.wait_for(conn.close(), self._timeout)
            await own.close()

    async def _clear(self) -> None:
        if self._own is None:
            async with self._store.begin() as conn:
                await self._store.killmails.follow_release(conn, self.holder)
            return
        own, conn = self._own
        await own.killmails.follow_release(conn, self.holder)
        await own.killmails.follow_unlock(conn)


async def take(settings: Settings, store: Store, stop: asyncio.Event) -> Place | None:
    """Wait until this process is the follower (then its Place), or until `stop` (None)."""
    if store.dialect == "sqlite":  # the runner lock is this process's: nobody else can follow
        return Place(store, None, settings)
    own = open_store(settings, dedicated=True)  # no pool: closing the connection ends the session

    async def follow(conn: AsyncConnection) -> bool:
        return await own.killmails.try_follow_lock(conn)

    conn = await take_session_lock(own.engine, follow, stop, poll_s=settings.scheduler_poll_s,
                                   max_delay_s=settings.reconnect_max_delay_s, who="kill feed follower")
    if conn is None:
        await own.close()
        return None
    log.info("kill feed follower is active", holder=holder_name())
    return Place(store, (own, conn), settings)
