"""EsiClient: every request reserves from the shared budget, sends the pinned headers, and is classified.

420 and 429 never reach the caller: the settle records the pause in the shared budget, and the
next reserve waits it out, so no attempt is used up.
"""

from __future__ import annotations

import re
from typing import Final, TypeVar

from pydantic import TypeAdapter

from killreport import __version__
from killreport.budget.types import Budget
from killreport.esi import models
from killreport.esi.classify import NO_ANSWER, Observation, classify, etag_of, observe, parse_http_date
from killreport.esi.errors import MalformedResponse, PermanentError, TransientError, TransportError
from killreport.esi.types import EsiRequest, EsiResponse, Fetched, NotModified, Transport
from killreport.ids import Kind, is_special

T = TypeVar("T")
PROJECT_URL: Final = "https://github.com/killreport/killreport"
_NUMBER_SEGMENT: Final = re.compile(r"/\d+(?=/|$)")


def user_agent(contact: str) -> str:
    """`killreport/<version> (<contact>; +<project url>)`, as CCP asks."""
    contact = re.sub(r"[\x00-\x1f\x7f();]", "", contact).strip()
    return f"killreport/{__version__} ({contact or 'no contact given'}; +{PROJECT_URL})"


def route_of(path: str) -> str:
    """The route template the budget keys groups by: numeric segments become `{id}`."""
    return _NUMBER_SEGMENT.sub("/{id}", path.split("?", 1)[0])


class EsiClient:
    """Typed access to the ESI routes killreport stores."""

    def __init__(self, transport: Transport, budget: Budget, *, base_url: str, user_agent: str,
                 compatibility_date: str, timeout_s: float, max_body_bytes: int) -> None:
        self._transport = transport
        self._budget = budget
        self._base = base_url.rstrip("/")
        self._headers = {"User-Agent": user_agent, "X-Compatibility-Date": compatibility_date,
                         "Accept": "application/json"}
        self._timeout = timeout_s
        self._max_body = max_body_bytes

    async def alliance_ids(self) -> Fetched[list[int]]:
        """GET /alliances: every active alliance id."""
        return await self._fetch("/alliances", models.IdList)

    async def alliance(self, alliance_id: int) -> Fetched[models.Alliance]:
        """GET /alliances/{alliance_id}."""
        self._refuse_special("alliance", alliance_id)
        return await self._fetch(f"/alliances/{alliance_id}", models.Alliance)

    async def alliance_corporations(self, alliance_id: int) -> Fetched[list[int]]:
        """GET /alliances/{alliance_id}/corporations."""
        self._refuse_special("alliance", alliance_id)
        return await self._fetch(f"/alliances/{alliance_id}/corporations", models.IdList)

    async def corporation(self, corporation_id: int) -> Fetched[models.Corporation]:
        """GET /corporations/{corporation_id}."""
        self._refuse_special("corporation", corporation_id)
        return await self._fetch(f"/corporations/{corporation_id}", models.Corporation)

    async def character(self, character_id: int) -> Fetched[models.Character]:
        """GET /characters/{character_id}."""
        self._refuse_special("character", character_id)
        return await self._fetch(f"/characters/{character_id}", models.Character)

    async def get(self, path: str, model: TypeAdapter[T] | type[T],
                  etag: str | None = None) -> Fetched[T] | NotModified:
        """GET `path`; with `etag`, a 304 comes back as NotModified. Errors raise esi.errors."""
        response = await self._send(path, etag)
        expires = parse_http_date(response.headers.get("expires"))
        if response.status == 304:
            return NotModified(expires_at=expires)
        return Fetched(data=models.validate(model, response.body, path), expires_at=expires,
                       etag=etag_of(response.headers),
                       last_modified=parse_http_date(response.headers.get("last-modified")))

    async def _fetch(self, path: str, model: TypeAdapter[T] | type[T]) -> Fetched[T]:
        got = await self.get(path, model)
        if isinstance(got, NotModified):  # only a conditional request may answer 304
            raise TransientError("304 to an unconditional request", status=304, path=path)
        return got

    async def _send(self, path: str, etag: str | None) -> EsiResponse:
        """Reserve, send, settle (always), classify; loop on 420/429 without using an attempt."""
        headers = dict(self._headers)
        if etag:
            headers["If-None-Match"] = etag
        request = EsiRequest("GET", self._base + path, headers, None, self._timeout)
        route = route_of(path)
        while True:
            response = await self._attempt(request, route, path)
            outcome = classify(response.status, response.headers, response.body)
            if outcome.kind in ("ok", "not-modified"):
                return response
            if outcome.kind == "wait":
                continue
            assert outcome.error is not None
            outcome.error.path = path
            raise outcome.error

    async def _attempt(self, request: EsiRequest, route: str, path: str) -> EsiResponse:
        lease = await self._budget.reserve(route)
        try:
            response = await self._transport(request)
        except TransportError:
            await self._budget.settle(lease, NO_ANSWER)
            raise
        except MalformedResponse as exc:  # an answer came, but too large to read
            status = exc.status if exc.status is not None else 200
            await self._budget.settle(lease, Observation(status=status, is_error=status >= 400))
            raise
        except BaseException:
            await self._budget.settle(lease, NO_ANSWER)  # cancelled mid-request: assume the worst
            raise
        await self._budget.settle(lease, observe(response.status, response.headers))
        if len(response.body) > self._max_body:
            raise MalformedResponse(f"body larger than {self._max_body} bytes", status=response.status,
                                    path=path)
        return response

    @staticmethod
    def _refuse_special(kind: Kind, entity_id: int) -> None:
        if is_special(kind, entity_id):
            raise PermanentError(f"{entity_id} is a system/NPC/faction id; not requested", path=kind)
