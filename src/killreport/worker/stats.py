"""Counting ESI responses by status (a Transport wrapper) and adding them to the shared table."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.esi.errors import TransportError
from killreport.esi.types import EsiRequest, EsiResponse, Transport

NO_ANSWER = 0


class CountingTransport:
    """Counts every response by status (0 for no answer) on its way through."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner
        self.counts: Counter[int] = Counter()

    async def __call__(self, request: EsiRequest) -> EsiResponse:
        """Send through the inner transport and count the outcome."""
        try:
            response = await self._inner(request)
        except TransportError:
            self.counts[NO_ANSWER] += 1
            raise
        self.counts[response.status] += 1
        return response

    def take(self) -> Counter[int]:
        """The counts since the last take."""
        taken, self.counts = self.counts, Counter()
        return taken


async def add_counts(engine: AsyncEngine, counts: Counter[int]) -> None:
    """Add counts to `esi_request_counts`."""
    if not counts:
        return
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO esi_request_counts (status, count) VALUES (:status, :count)"
                 " ON CONFLICT (status) DO UPDATE SET count = esi_request_counts.count"
                 " + EXCLUDED.count"),
            [{"status": s, "count": c} for s, c in sorted(counts.items())],
        )


async def read_counts(engine: AsyncEngine) -> dict[int, int]:
    """Every status counted so far, cluster-wide."""
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT status, count FROM esi_request_counts"))
        return {int(r.status): int(r[1]) for r in result}


async def flush_forever(engine: AsyncEngine, counter: CountingTransport, every_s: float) -> None:
    """Flush counts periodically until cancelled, then once more."""
    try:
        while True:
            await asyncio.sleep(every_s)
            await _flush(engine, counter)
    finally:
        await _flush(engine, counter)


async def _flush(engine: AsyncEngine, counter: CountingTransport) -> None:
    counts = counter.take()
    try:
        await add_counts(engine, counts)
    except Exception:
        # The database may be down: keep the counts for the next flush rather than lose them.
        counter.counts.update(counts)
