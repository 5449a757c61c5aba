"""PgBudget: the budget in PostgreSQL, shared by every worker process on every machine.

Trade-offs, decided here:
- One row per lease (not a counter) so a crashed worker's reservations expire on their own
  (`expires_at` = request timeout + margin) instead of leaking forever.
- Before any report, or once the reported window has ended, one probe request at a time: the
  budget might have been spent by another program on the same IP, and only a response tells.
- Only the database clock (clock_timestamp()) is used, so clock skew between machines is harmless.
- reserve and settle are one PL/pgSQL call each (migration 0002); waiters sleep until the wait the
  function returned, at most 1 s, or until a NOTIFY from a settle wakes them (one listener
  connection per process, not one per waiter).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

from killreport.budget.types import BucketState, BudgetSnapshot, Lease
from killreport.esi.classify import Observation

CHANNEL = "esi_budget"
_MAX_SLEEP_S = 1.0


def asyncpg_dsn(database_url: str) -> str:
    """asyncpg takes plain postgresql:// URLs; strip a SQLAlchemy dialect if one was given."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class PgBudget:
    """The cluster-wide budget; build with `await PgBudget.open(url, ...)`, close when done."""

    def __init__(self, pool: asyncpg.Pool, listener: asyncpg.Connection, *, max_inflight: int,
                 error_floor: int, lease_ttl_s: float) -> None:
        self._pool = pool
        self._listener = listener
        self._max = max_inflight
        self._floor = error_floor
        self._ttl = lease_ttl_s
        self._wake = asyncio.Event()
        self._background: set[asyncio.Future[None]] = set()

    @classmethod
    async def open(cls, database_url: str, *, max_inflight: int, error_floor: int,
                   lease_ttl_s: float, pool_size: int = 4) -> PgBudget:
        """Connect a small pool and the NOTIFY listener."""
        dsn = asyncpg_dsn(database_url)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=pool_size)
        listener = await asyncpg.connect(dsn)
        budget = cls(pool, listener, max_inflight=max_inflight, error_floor=error_floor,
                     lease_ttl_s=lease_ttl_s)
        await listener.add_listener(CHANNEL, budget._notified)
        return budget

    def _notified(self, *_: Any) -> None:
        # Wake everyone waiting now; later waiters get a fresh event.
        self._wake.set()
        self._wake = asyncio.Event()

    async def reserve(self, route: str) -> Lease:
        """Wait until the request fits, then hold a lease for it."""
        while True:
            wake = self._wake
            call = asyncio.ensure_future(self._pool.fetchrow(
                "SELECT lease_id, wait_s FROM esi_reserve($1, $2, $3, $4)",
                route, self._max, self._floor, self._ttl))
            try:
                row = await asyncio.shield(call)
            except asyncio.CancelledError:
                # The call may still grant a lease: give it back rather than block others till expiry.
                call.add_done_callback(lambda done: self._give_back(done, route))
                raise
            assert row is not None
            if row["lease_id"] is not None:
                return Lease(id=row["lease_id"], route=route)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=min(max(row["wait_s"], 0.01), _MAX_SLEEP_S))

    def _give_back(self, call: asyncio.Future[Any], route: str) -> None:
        if call.cancelled() or call.exception() is not None or call.result()["lease_id"] is None:
            return
        release = asyncio.ensure_future(
            self.settle(Lease(id=call.result()["lease_id"], route=route), Observation(0, False)))
        self._background.add(release)
        release.add_done_callback(self._background.discard)

    async def settle(self, lease: Lease, observation: Observation) -> None:
        """Return the lease and record what ESI reported."""
        bucket = observation.bucket
        await self._pool.execute(
            "SELECT esi_settle($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            lease.id, lease.route, observation.status, observation.error_remain,
            observation.error_reset_s, bucket.group if bucket else None,
            bucket.limit if bucket else None, bucket.window_s if bucket else None,
            bucket.remaining if bucket else None, observation.retry_after_s, self._max)

    async def snapshot(self) -> BudgetSnapshot:
        """The budget as last reported, for `status`."""
        async with self._pool.acquire() as conn:
            return await read_snapshot(conn)

    async def close(self) -> None:
        """Close the listener and the pool."""
        await self._listener.close()
        await self._pool.close()


async def read_snapshot(conn: asyncpg.Connection) -> BudgetSnapshot:
    """Read the budget tables."""
    b = await conn.fetchrow("SELECT *, (SELECT count(*) FROM esi_leases WHERE expires_at > "
                            "clock_timestamp()) AS in_flight FROM esi_budget WHERE id = 1")
    assert b is not None
    buckets = [BucketState(group=r["grp"], limit=r["token_limit"], window_s=r["window_s"],
                           remaining=r["remaining"], reported_at=r["reported_at"],
                           paused_until=r["paused_until"])
               for r in await conn.fetch("SELECT * FROM esi_buckets ORDER BY grp")]
    groups = {r["route"]: r["grp"] for r in await conn.fetch("SELECT * FROM esi_route_groups")}
    return BudgetSnapshot(error_limit_remaining=b["error_remain"],
                          error_limit_reset_at=b["error_window_end"], paused_until=b["paused_until"],
                          pause_reason=b["pause_reason"], in_flight=b["in_flight"], buckets=buckets,
                          route_groups=groups)
