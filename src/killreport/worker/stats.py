"""Counting ESI responses by status (a Transport wrapper) and flushing them to the shared table."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.esi.classify import NO_ANSWER_STATUS
from killreport.esi.errors import TransportError
from killreport.esi.types import EsiRequest, EsiResponse, Transport
from killreport.store import request_counts


class CountingTransport:
    """Counts every response by status (NO_ANSWER_STATUS for none) on its way through."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner
        self.counts: Counter[int] = Counter()

    async def __call__(self, request: EsiRequest) -> EsiResponse:
        """Send through the inner transport and count the outcome."""
        try:
            response = await self._inner(request)
        except TransportError:
            self.counts[NO_ANSWER_STATUS] += 1
            raise
        self.counts[response.status] += 1
        return response

    def take(self) -> Counter[int]:
        """The counts since the last take."""
        taken, self.counts = self.counts, Counter()
        return taken


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
        await request_counts.add(engine, counts)
    except Exception:
        # The database may be down: keep the counts for the next flush rather than lose them.
        counter.counts.update(counts)
