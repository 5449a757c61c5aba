"""domain's KillmailStore over a Store: what r2z2's Follower writes through, in the database.

Each call is one transaction. A save also adds the characters, corporations and alliances the kills
name to the pending set (store.killmails.save does, unpublished); they are published once that
transaction has committed, so a job never arrives before its row. A publish that fails leaves them
unpublished: a worker's janitor publishes them later, nothing is lost.

Its pace is the back-fill's (backfill/shared_pace.py's StoredPace): store.killmails.reserve_pace
records each slot at the time it may go, for every process sharing R2Z2_MAX_RPS; the Follower takes
its slot only after its own wait, just before sending (r2z2/follower.py says why that keeps the
feed's count of arrivals under the cap).
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from killreport.domain.killmail import Kill, Package, Rejected, Zkb
from killreport.ids import Kind
from killreport.queue.broker import BrokerError, Publisher
from killreport.store.interface import Store
from killreport.sync.enqueue import publish_unpublished

log = structlog.get_logger("killreport.killfeed")


class StoredKillmails:
    """The feed's kills, cursor, holes, head and errors in `store`; discoveries published on `queue`."""

    def __init__(self, store: Store, queue: Publisher) -> None:
        self._store, self._queue = store, queue
        self._k = store.killmails

    async def load_cursor(self) -> int | None:
        """The next feed number to store, or None before the first save."""
        async with self._store.connect() as conn:
            return await self._k.load_cursor(conn)

    async def save(self, packages: Sequence[Package], rejected: Sequence[Rejected],
                   cursor: int | None) -> None:
        """Keep the kills and the rejected packages and move the cursor (one transaction), then publish
        the entities the kills named that the copy lacked."""
        async with self._store.begin() as conn:
            added = await self._k.save(conn, [Kill.of(p) for p in packages], rejected, cursor)
        await self._publish(added)

    async def _publish(self, added: dict[Kind, list[int]]) -> None:
        for kind, ids in added.items():
            if not ids:
                continue
            try:
                await publish_unpublished(self._store, self._queue, kind, ids)
            except BrokerError as exc:  # pending and unpublished: the janitor publishes them later
                log.warning("discovered entities not published yet", kind=kind, count=len(ids),
                            error=str(exc))

    async def record_hole(self, number: int, cursor: int) -> None:
        """Remember a hole and move the cursor past it, atomically."""
        async with self._store.begin() as conn:
            await self._k.record_hole(conn, number, cursor)

    async def holes(self, limit: int) -> list[int]:
        """Unfilled holes, oldest first."""
        async with self._store.connect() as conn:
            return await self._k.holes(conn, limit)

    async def fill_hole(self, number: int) -> None:
        """A hole's number answered after all."""
        async with self._store.begin() as conn:
            await self._k.fill_hole(conn, number)

    async def refresh_zkb(self, killmail_id: int, zkb: Zkb, sequence_id: int) -> None:
        """A republication's zkb block replaces the stored one (a kill not held is left alone)."""
        async with self._store.begin() as conn:
            await self._k.refresh_zkb(conn, killmail_id, zkb, sequence_id)

    async def note_head(self, head: int) -> None:
        """The head pointer as last read."""
        async with self._store.begin() as conn:
            await self._k.note_head(conn, head)

    async def note_error(self, error: str | None) -> None:
        """The feed's last error (None: it answers again)."""
        async with self._store.begin() as conn:
            await self._k.note_error(conn, error)
