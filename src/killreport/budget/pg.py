"""PgBudget: the budget in PostgreSQL, shared by every worker process on every machine.

The rules are killreport.domain.budget_rules; store/sql/esi_reserve.sql and esi_settle.sql mirror them
in PL/pgSQL so reserve and settle are one round trip each. Every constant is an argument taken from
rules.Limits and rules.Rules, so each number lives in Python only, and
tests/integration/test_budget_agreement.py drives both with random steps and checks they agree.
Trade-offs, decided here:

- One row per lease, not a counter: a crashed worker's reservations expire on their own
  (`expires_at` = request timeout + margin, reaped by the next reserve) instead of leaking, and
  in-flight counts are always recomputed from live rows so they cannot drift.
- The probe rule: before any report, or once the reported window has ended, only one request is
  in flight until a response reports fresh numbers. Another program on the same IP may have spent
  the window; only ESI's answer tells, and one error is the most a probe can cost.
- Clock skew: every time is the database's clock_timestamp(); worker clocks are never read, so
  skewed machines cannot stretch a pause or shorten a window. (The functions take an optional time
  for tests; this module always passes NULL.)
- Serialisation: both functions lock the single budget row, so decisions are atomic across the
  cluster. That lock is the throughput ceiling (measured ~2,000 reserve+settle pairs/s on a 2-core
  box, `.venv/bin/python bench/budget.py URL`). The pool's sessions run with synchronous_commit
  off: a database crash then loses at most the last few hundred milliseconds of budget state
  (leases that would expire anyway, a report the next response repeats), while waiting for an
  fsync on every call halved throughput here and costs far more on slower disks.
- Downtime: the row also holds when ESI last said it cannot reach the game server, the start_time
  of the last /status that showed it open to all, and when /status may next be asked; the daily
  downtime is computed from the clock, so no process has to be awake at 10:59:30 to start it. While
  ESI is down only /status is granted (src/killreport/downtime.py sends it from every process), and
  the settle that shows ESI back wakes every waiter.
- Waking: waiters sleep min(wait, Rules.poll_s) or until NOTIFY esi_budget, which settle sends only
  when someone waited recently (Rules.waiters_recent_s) or a pause started, so the hot path costs no
  notifications. One listener connection per process sets an asyncio.Event; waiters never hold a
  connection. When that connection is lost (a PostgreSQL restart, a terminated backend) it
  reconnects with backoff and wakes every waiter, since notifications sent meanwhile are gone;
  until then waiters fall back to the poll, and reserve and settle, which use the pool, carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any, Final

import asyncpg
import structlog

from killreport.domain.budget import BudgetSnapshot, Lease
from killreport.domain.budget_rules import RULES, CapGroup, Limits, Rules
from killreport.domain.observation import NO_ANSWER, Observation
from killreport.store.budget import RESERVE, SETTLE, read_snapshot, reserve_args, settle_args

__all__ = ["CHANNEL", "PgBudget", "asyncpg_dsn", "read_snapshot"]

log = structlog.get_logger("killreport.budget")

CHANNEL: Final = "esi_budget"
RECONNECT_FIRST_S: Final = 0.1  # a terminated backend: the server is up, the next try works
RECONNECT_MAX_S: Final = 5.0  # a restarting server: try every few seconds, not in a tight loop
_CONNECT_TIMEOUT_S: Final = 10.0


def asyncpg_dsn(database_url: str) -> str:
    """asyncpg takes plain postgresql:// URLs; strip a SQLAlchemy dialect if one was given."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class _Listener:
    """The process's one LISTEN connection, reconnected with backoff whenever it is lost."""

    def __init__(self, dsn: str, on_notify: Callable[[], None]) -> None:
        self._dsn = dsn
        self._on_notify = on_notify
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def connect(self) -> None:
        """Connect and LISTEN; raises when it cannot."""
        conn = await asyncpg.connect(self._dsn, timeout=_CONNECT_TIMEOUT_S)
        # Registered before LISTEN so a loss at any later moment is seen; _lost ignores this
        # connection until it is the current one.
        conn.add_termination_listener(self._lost)
        try:
            await conn.add_listener(CHANNEL, self._notified)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn

    def _notified(self, *_: Any) -> None:
        self._on_notify()

    def _lost(self, conn: asyncpg.Connection) -> None:
        """asyncpg's termination callback: start reconnecting, unless we closed it ourselves."""
        if self._closed or conn is not self._conn:
            return
        self._conn = None
        log.warning("budget listener lost; reconnecting")
        self._task = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        """Try until connected (or closed), doubling the pause between tries up to a cap."""
        delay = RECONNECT_FIRST_S
        while not self._closed:
            try:
                await self.connect()
            except Exception as exc:  # any failure means: try again later, never crash a worker
                log.warning("budget listener reconnect failed", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            log.info("budget listener reconnected")
            self._on_notify()  # notifications sent while it was down are lost: every waiter re-asks
            return

    async def close(self) -> None:
        """Stop reconnecting and close the connection."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])  # unlike awaiting it, never mistakes its cancel for ours
        if self._conn is not None:
            await self._conn.close()


class PgBudget:
    """The cluster-wide budget; build with `await PgBudget.open(url, ...)`, `await close()` when done."""

    def __init__(self, pool: asyncpg.Pool, dsn: str, limits: Limits, rules: Rules = RULES) -> None:
        self._pool = pool
        self._listener = _Listener(dsn, self._notified)
        self._limits = limits
        self._rules = rules
        self._wake = asyncio.Event()
        self._background: set[asyncio.Future[Any]] = set()

    @classmethod
    async def open(cls, database_url: str, *, max_inflight: int, error_floor: int,
                   lease_ttl_s: float, pool_size: int = 4, rules: Rules = RULES,
                   route_caps: Mapping[str, CapGroup] | None = None) -> PgBudget:
        """Connect a small pool and the one NOTIFY listener of this process."""
        dsn = asyncpg_dsn(database_url)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=pool_size, reset=_keep_session,
                                         server_settings={"synchronous_commit": "off"})
        budget = cls(pool, dsn, Limits(max_inflight, error_floor, lease_ttl_s, dict(route_caps or {})), rules)
        try:
            await budget._listener.connect()
        except BaseException:
            await pool.close()
            raise
        return budget

    def _notified(self, *_: Any) -> None:
        # Wake everyone waiting now; later waiters get a fresh event.
        self._wake.set()
        self._wake = asyncio.Event()

    async def reserve(self, route: str) -> Lease:
        """Wait until a request on `route` fits every limit, then hold its lease."""
        args = reserve_args(route, self._limits, self._rules)
        while True:
            wake = self._wake
            call = asyncio.ensure_future(self._pool.fetchrow(RESERVE, *args))
            try:
                row = await asyncio.shield(call)
            except asyncio.CancelledError:
                # The call may still grant a lease: give it back rather than block others till expiry.
                call.add_done_callback(lambda done: self._give_back(done, route))
                raise
            assert row is not None
            if row["o_lease"] is not None:
                return Lease(id=row["o_lease"], route=route, group=row["o_group"], probe=row["o_probe"])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=min(row["o_wait"], self._rules.poll_s))

    def _give_back(self, call: asyncio.Future[Any], route: str) -> None:
        if call.cancelled() or call.exception() is not None or call.result()["o_lease"] is None:
            return
        # Nothing was sent under it: settle as a non-error without a status.
        unused = Observation(status=None, is_error=False)
        release = asyncio.ensure_future(self.settle(Lease(call.result()["o_lease"], route), unused))
        self._background.add(release)
        release.add_done_callback(self._background.discard)

    async def settle(self, lease: Lease, observation: Observation = NO_ANSWER) -> None:
        """Return the lease and record what ESI reported (one round trip)."""
        args = settle_args(lease.id, lease.route, observation, self._rules,
                           cap=self._limits.cap_of(lease.route))
        await self._pool.fetchval(SETTLE, *args)

    async def snapshot(self) -> BudgetSnapshot:
        """The budget as last reported, for `status`."""
        async with self._pool.acquire() as conn:
            return await read_snapshot(conn, self._rules)

    async def close(self) -> None:
        """Close the listener and the pool."""
        for task in list(self._background):
            with contextlib.suppress(Exception):
                await task
        await self._listener.close()
        await self._pool.close()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release reset query (RESET ALL, UNLISTEN *, ...).

    These connections only ever run one parameterised call at a time and change no session state,
    so the reset was a wasted round trip on every reserve and settle (measured: 5% of a worker's CPU).
    asyncpg still rolls back a transaction left open before calling this.
    """
    del conn
