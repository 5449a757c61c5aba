"""A Transport wrapper that counts every response by route template and status on its way through."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

from killreport.esi.classify import NO_ANSWER_STATUS
from killreport.esi.client import route_of
from killreport.esi.errors import TransportError
from killreport.esi.types import EsiRequest, EsiResponse, Transport

# A route template (`/alliances/{id}`) and a status (NO_ANSWER_STATUS when there was no answer).
RouteStatus = tuple[str, int]


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
