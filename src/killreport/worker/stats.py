"""Counting ESI responses by route and status (a Transport wrapper) and flushing them to the shared log."""

from __future__ import annotations

import asyncio
from collections import Counter
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.esi.classify import NO_ANSWER_STATUS
from killreport.esi.client import route_of
from killreport.esi.errors import TransportError
from killreport.esi.types import EsiRequest, EsiResponse, Transport
from killreport.store import request_counts
from killreport.store.request_counts import RouteStatus


class CountingTransport:
    """Counts every response by route template and status (NO_ANSWER_STATUS for none) on its way through."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner
        self.counts: Counter[RouteStatus] = Counter()

    async def __call__(self, request: EsiRequest) -> EsiResponse:
        """Send through the inner transport and count the outcome."""
        route = route_of(urlsplit(request.url).path)
        try:
            response = await self._inner(request)
        except TransportError:
            self.counts[route, NO_ANSWER_STATUS] += 1
            raise
        self.counts[route, response.status] += 1
        return response

    def take(self) -> Counter[RouteStatus]:
        """The counts since the last take."""
        taken, self.counts = self.counts, Counter()
        return taken


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
