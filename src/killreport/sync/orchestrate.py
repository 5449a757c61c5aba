"""What the sync commands queue, and how `sync-all --wait` knows everything it started is done."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from sqlalchemy.exc import DBAPIError

from killreport.domain.budget import BudgetSnapshot
from killreport.domain.cache import Fetched
from killreport.esi.errors import TransientError
from killreport.ids import Kind
from killreport.queue.broker import Broker, BrokerError
from killreport.store.budget_view import BudgetView
from killreport.store.facts import CacheFacts
from killreport.store.http_cache import ALLIANCE_LIST
from killreport.store.interface import Store
from killreport.sync.enqueue import republish_stale
from killreport.sync.plan import requestable

T = TypeVar("T")


class AllianceList(Protocol):
    """The one request `alliance_ids` needs (EsiSource has it)."""

    async def alliance_ids(self) -> Fetched[list[int]]:
        """GET /alliances."""
        ...


async def alliance_ids(esi: AllianceList, store: Store) -> list[int]:
    """Every active alliance: from the stored list while it is fresh, else from ESI.

    Fetched under the store's fetch lock, and looked for again once it is held: a scheduler (or
    another `sync-all`) that fetched the list meanwhile must not be followed by a second request
    before its Expires (a cache violation, seen when `sync-all` started beside a new runner)."""
    cached = await fresh_alliance_ids(store)
    if cached is not None:
        return cached
    async with store.jobs.fetch_lock(store.engine, ALLIANCE_LIST):
        cached = await fresh_alliance_ids(store)
        if cached is not None:
            return cached
        got = await _with_retries(esi.alliance_ids, attempts=6)
        ids = sorted(got.data)
        async with store.begin() as conn:
            await store.jobs.put_ids(conn, ALLIANCE_LIST, ids, CacheFacts.of(got, dt.datetime.now(dt.UTC)))
    return ids


async def fresh_alliance_ids(store: Store) -> list[int] | None:
    """The stored alliance list while it is fresh, else None."""
    async with store.connect() as conn:
        return await store.jobs.fresh_ids(conn, ALLIANCE_LIST)


async def _with_retries(call: Callable[[], Awaitable[T]], attempts: int) -> T:
    """`call()`, again after 1, 2, 4... s on a transient ESI error (the shared budget still applies)."""
    for attempt in range(attempts - 1):
        try:
            return await call()
        except TransientError:
            await asyncio.sleep(2**attempt)
    return await call()


async def referenced(store: Store, kind: Kind) -> list[int]:
    """Ids of `kind` the stored data references (never special or invalid ids)."""
    async with store.connect() as conn:
        ids = await store.jobs.referenced_ids(conn, kind)
    return sorted(requestable(kind, ids))


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of the work left and done."""

    pending: dict[str, dict[str, int]]
    stored: dict[str, int]
    elapsed_s: float
    queues_ready: int = 0
    consumers: int = 0
    budget: BudgetSnapshot | None = None  # the shared ESI budget as last persisted
    at: dt.datetime | None = None  # when it was read: the reset and pause times are absolute
    remaining: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "remaining", sum(p["pending"] for p in self.pending.values()))


async def progress(store: Store, broker: Broker, started: float, budget: BudgetView) -> Progress:
    """Pending work by kind, stored entities, what the queues hold and the shared ESI budget."""
    async with store.connect() as conn:
        left = await store.admin.pending_counts(conn)
        stored = await store.admin.entity_counts(conn)
        snapshot = await budget.snapshot(store, conn)
    stats = await broker.stats()
    return Progress(pending=left, stored=stored, elapsed_s=time.monotonic() - started,
                    queues_ready=sum(s.ready for s in stats),
                    consumers=sum(s.consumers for s in stats), budget=snapshot, at=dt.datetime.now(dt.UTC))


async def wait_until_done(
    store: Store, broker: Broker, on_progress: Callable[[Progress], Awaitable[None]],
    *, poll_s: float = 0.5, republish_after_s: float = 30.0,
    on_outage: Callable[[str], Awaitable[None]] | None = None, budget: BudgetView,
) -> Progress:
    """Block until no entity is pending anywhere (queued, retrying or in flight).

    A database or broker outage while waiting is waited out (workers do the same), not fatal.
    """
    started = time.monotonic()
    last_republish = started
    while True:
        try:
            now = await progress(store, broker, started, budget)
        except (DBAPIError, OSError, BrokerError) as exc:
            if on_outage is not None:
                await on_outage(f"{type(exc).__name__}: {exc}".splitlines()[0])
            await asyncio.sleep(max(poll_s, 1.0))
            continue
        await on_progress(now)
        if now.remaining == 0:
            return now
        if time.monotonic() - last_republish > republish_after_s:
            # Belt and braces for a publisher that died between its commit and its confirm.
            await republish_stale(store, broker, older_than_s=republish_after_s)
            last_republish = time.monotonic()
        await asyncio.sleep(poll_s)
