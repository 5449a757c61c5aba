"""EsiClient: every request reserves from the shared budget, sends the pinned headers, and is classified.

420 and 429 never reach the caller: the settle records the pause in the shared budget, and the
next reserve waits it out, so no attempt is used up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final, TypeVar

from pydantic import TypeAdapter

from killreport import __version__
from killreport.budget.types import Budget
from killreport.esi import models
from killreport.esi.classify import Observation, classify, http_date, observe
from killreport.esi.errors import (
    Deleted,
    EsiError,
    MalformedResponse,
    NotFound,
    PermanentError,
    ServerError,
    TransportError,
)
from killreport.esi.types import EsiRequest, EsiResponse, Fetched, Transport
from killreport.ids import Kind, is_special

T = TypeVar("T")
PROJECT_URL: Final = "https://github.com/killreport/killreport"


def user_agent(contact: str) -> str:
    """`killreport/<version> (<contact>; +<project url>)`, as CCP asks."""
    return f"killreport/{__version__} ({contact or 'no contact given'}; +{PROJECT_URL})"


class EsiClient:
    """Typed access to the ESI routes killreport stores."""

    def __init__(self, transport: Transport, budget: Budget, *, base_url: str, user_agent: str,
                 compatibility_date: str, timeout_s: float) -> None:
        self._transport = transport
        self._budget = budget
        self._base = base_url.rstrip("/")
        self._headers = {"User-Agent": user_agent, "X-Compatibility-Date": compatibility_date,
                         "Accept": "application/json"}
        self._timeout = timeout_s

    async def alliance_ids(self) -> Fetched[list[int]]:
        """GET /alliances."""
        return await self.get("/alliances", "/alliances", models.IdList)

    async def alliance(self, alliance_id: int) -> Fetched[models.Alliance]:
        """GET /alliances/{alliance_id}."""
        self._refuse_special("alliance", alliance_id)
        return await self.get(f"/alliances/{alliance_id}", "/alliances/{alliance_id}", models.Alliance)

    async def alliance_corporations(self, alliance_id: int) -> Fetched[list[int]]:
        """GET /alliances/{alliance_id}/corporations."""
        self._refuse_special("alliance", alliance_id)
        return await self.get(f"/alliances/{alliance_id}/corporations",
                              "/alliances/{alliance_id}/corporations", models.IdList)

    async def corporation(self, corporation_id: int) -> Fetched[models.Corporation]:
        """GET /corporations/{corporation_id}."""
        self._refuse_special("corporation", corporation_id)
        return await self.get(f"/corporations/{corporation_id}", "/corporations/{corporation_id}",
                              models.Corporation)

    async def character(self, character_id: int) -> Fetched[models.Character]:
        """GET /characters/{character_id}."""
        self._refuse_special("character", character_id)
        return await self.get(f"/characters/{character_id}", "/characters/{character_id}",
                              models.Character)

    async def get(self, path: str, route: str, schema: TypeAdapter[T] | type[Any]) -> Fetched[T]:
        """GET `path` (whose template is `route`) and validate its body against `schema`."""
        response = await self._send(path, route)
        try:
            data = json.loads(response.body)
        except (ValueError, UnicodeDecodeError):
            raise MalformedResponse("body is not JSON", status=response.status, path=path) from None
        return Fetched(data=models.validate(schema, data, path),
                       expires_at=http_date(response.headers.get("expires")),
                       etag=response.headers.get("etag"),
                       last_modified=http_date(response.headers.get("last-modified")))

    async def _send(self, path: str, route: str) -> EsiResponse:
        while True:
            lease = await self._budget.reserve(route)
            try:
                response = await self._transport(EsiRequest(
                    "GET", self._base + path, self._headers, None, self._timeout))
            except TransportError:
                await self._budget.settle(lease, Observation.no_answer())
                raise
            except MalformedResponse as exc:
                await self._budget.settle(lease, Observation(status=exc.status or 0,
                                                             is_error=(exc.status or 500) >= 400))
                raise
            await self._budget.settle(lease, observe(response.status, response.headers))
            outcome = classify(response.status, response.body)
            if outcome.kind == "wait":
                continue
            if outcome.kind == "ok":
                return response
            raise _error(outcome.kind, outcome.status, outcome.message, outcome.deleted, path)

    @staticmethod
    def _refuse_special(kind: Kind, entity_id: int) -> None:
        if is_special(kind, entity_id):
            raise PermanentError(f"{entity_id} is a system/NPC id; not requested", path=kind)


def _error(kind: str, status: int, message: str, deleted: bool, path: str) -> EsiError:
    if kind == "permanent":
        cls: Callable[..., EsiError] = Deleted if deleted else NotFound if status == 404 else PermanentError
        return cls(message, status=status, path=path)
    if kind == "not_modified":
        return PermanentError("304 without a conditional request", status=status, path=path)
    return ServerError(message, status=status, path=path)

