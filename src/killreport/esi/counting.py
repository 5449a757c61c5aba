"""A Transport wrapper that counts every response by route template and status on its way through."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

from killreport.domain.routes import NO_ANSWER_STATUS, RouteStatus
from killreport.esi.client import route_of
from killreport.esi.errors import TransportError
from killreport.esi.types import EsiRequest, EsiResponse, Transport

# Told of every request: its route template, status and duration in seconds (metrics, if on).
Observer = Callable[[str, int, float], None]


class CountingTransport:
    """Counts every response by route template and status (NO_ANSWER_STATUS for none) on its way through."""

    def __init__(self, inner: Transport, observe: Observer | None = None) -> None:
        self._inner = inner
        self._observe = observe
        self.counts: Counter[RouteStatus] = Counter()

    async def __call__(self, request: EsiRequest) -> EsiResponse:
        """Send through the inner transport and count the outcome."""
        route = route_of(urlsplit(request.url).path)
        started = time.perf_counter()
        try:
            response = await self._inner(request)
        except TransportError:
            self._count(route, NO_ANSWER_STATUS, started)
            raise
        self._count(route, response.status, started)
        return response

    def _count(self, route: str, status: int, started: float) -> None:
        self.counts[route, status] += 1
        if self._observe is not None:
            self._observe(route, status, time.perf_counter() - started)

    def take(self) -> Counter[RouteStatus]:
        """The counts since the last take."""
        taken, self.counts = self.counts, Counter()
        return taken
