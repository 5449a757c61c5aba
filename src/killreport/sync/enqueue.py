"""Putting entities on the queues: pending row first, then a confirmed message, then `published`.

The order means a crash can duplicate a message (harmless: the claim and the Expires check stop a
second fetch) but never lose one: a row left unpublished is found again by `republish_stale`.
"""

from __future__ import annotations

from collections.abc import Iterable

from killreport.ids import KINDS, Kind
from killreport.queue.broker import QUEUE_NAMES, Publisher
from killreport.queue.messages import Job, encode
from killreport.store.interface import Store

_CHUNK = 1000


async def publish_unpublished(
    store: Store,
    broker: Publisher,
    kind: Kind,
    ids: Iterable[int] | None = None,
    *,
    older_than_s: float = 0.0,
) -> int:
    """Publish the pending rows of `kind` (among `ids`, if given) that have no confirmed message."""
    wanted = None if ids is None else sorted(set(ids))
    async with store.connect() as conn:
        todo = await store.jobs.unpublished(
            conn, kind, wanted, older_than_s=older_than_s, limit=len(wanted) if wanted is not None else 10_000
        )
    for start in range(0, len(todo), _CHUNK):
        chunk = todo[start : start + _CHUNK]
        await broker.publish(QUEUE_NAMES[kind], [encode(Job(kind=kind, id=i)) for i in chunk])
        async with store.begin() as conn:
            await store.jobs.mark_published(conn, kind, chunk)
    return len(todo)


async def enqueue(
    store: Store, broker: Publisher, kind: Kind, ids: Iterable[int], *, skip_fresh: bool
) -> int:
    """Queue entities not already pending; return how many were newly queued."""
    async with store.begin() as conn:
        new = await store.jobs.add(conn, kind, ids, skip_fresh=skip_fresh)
    if new:
        await publish_unpublished(store, broker, kind, new)
    return len(new)


async def republish_stale(store: Store, broker: Publisher, older_than_s: float) -> int:
    """Publish pending rows whose message never got confirmed (their publisher died)."""
    total = 0
    for kind in KINDS:
        total += await publish_unpublished(store, broker, kind, older_than_s=older_than_s)
    return total
