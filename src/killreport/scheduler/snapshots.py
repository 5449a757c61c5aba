"""The daily snapshots: the leader takes today's once the database's UTC date turns (00:00 UTC).

Taking a day is the store's one statement, which writes nothing once that day has rows; so a new
leader, a restarted one, or two that both think they lead in one moment, write each row once.
Starting after midnight, a leader takes today's if nobody did; only today's is ever asked for, so a
day when nothing ran stays missing. An empty copy takes nothing (the first snapshot of a new copy
is the first midnight, or the first start, after it holds something).

Between days nothing is asked of the database: the local clock says when the date may have turned,
and the database's clock says whether it has.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.store.interface import Store

log = structlog.get_logger("killreport.scheduler")

Today = Callable[[Store, AsyncConnection], Awaitable[dt.date]]


async def database_today(store: Store, conn: AsyncConnection) -> dt.date:
    """The database's UTC date now."""
    now = (await store.schedule.sweep_marks(conn)).now
    return now.astimezone(dt.UTC).date()


class DailySnapshots:
    """A scheduler step (`await step(elapsed_s)`): today's snapshots, once, from the first tick on."""

    def __init__(self, store: Store, today: Today = database_today) -> None:
        self._store = store
        self._today = today
        self._done: dt.date | None = None  # the last day this process took, or found taken

    async def __call__(self, _elapsed_s: float) -> int | None:
        """Take today's unless this process already did; the rows written, None if not asked."""
        if self._done is not None and dt.datetime.now(dt.UTC).date() <= self._done:
            return None
        async with self._store.begin() as conn:
            today = await self._today(self._store, conn)
            if today == self._done:
                return None
            written = await self._store.history.take_snapshots(conn, today)
        self._done = today
        log.info("daily snapshots", day=today.isoformat(), written=written)
        return written
