"""Flushing the counts of a CountingTransport to the shared request log, periodically and on stop."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.esi.counting import CountingTransport
from killreport.store import request_counts


async def flush_forever(engine: AsyncEngine, counter: CountingTransport, every_s: float) -> None:
    """Flush counts periodically until cancelled, then once more."""
    try:
        while True:
            await asyncio.sleep(every_s)
            await flush_once(engine, counter)
    finally:
        await flush_once(engine, counter)


async def flush_once(engine: AsyncEngine, counter: CountingTransport) -> None:
    """Add the counts since the last flush to the log; on failure keep them for the next one."""
    counts = counter.take()
    try:
        await request_counts.add(engine, counts)
    except Exception:
        # The database may be down: keep the counts for the next flush rather than lose them.
        counter.counts.update(counts)
