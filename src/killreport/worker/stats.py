"""Flushing the counts of a CountingTransport to the shared request log, periodically and on stop."""

from __future__ import annotations

import asyncio

from killreport.esi.counting import CountingTransport
from killreport.store.interface import Store


async def flush_forever(store: Store, counter: CountingTransport, every_s: float) -> None:
    """Flush counts periodically until cancelled, then once more."""
    try:
        while True:
            await asyncio.sleep(every_s)
            await flush_once(store, counter)
    finally:
        await flush_once(store, counter)


async def flush_once(store: Store, counter: CountingTransport) -> None:
    """Add the counts since the last flush to the log; on failure keep them for the next one."""
    counts = counter.take()
    try:
        async with store.begin() as conn:
            await store.admin.add_request_counts(conn, counts)
    except Exception:
        # The database may be down: keep the counts for the next flush rather than lose them.
        counter.counts.update(counts)
