"""The ESI client over a fake transport (a plain function) and an in-memory budget that records calls."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from killreport.budget.types import Lease
from killreport.esi.classify import Observation
from killreport.esi.client import EsiClient, user_agent
from killreport.esi.errors import (
    Deleted,
    MalformedResponse,
    NotFound,
    PermanentError,
    ServerError,
    TransportError,
)
from killreport.esi.types import EsiRequest, EsiResponse

CHARACTER = {"name": "Ann 'O\" <b>", "birthday": "2010-01-01T00:00:00Z", "bloodline_id": 1,
             "race_id": 1, "corporation_id": 98000001, "gender": "female", "achievement_score": 7}


class RecordingBudget:
    """Grants every reservation and remembers what was settled."""

    def __init__(self) -> None:
        self.reserved: list[str] = []
        self.settled: list[Observation] = []

    async def reserve(self, route: str) -> Lease:
        self.reserved.append(route)
        return Lease(id=len(self.reserved), route=route)

    async def settle(self, lease: Lease, observation: Observation) -> None:
        self.settled.append(observation)


def answers(*responses: tuple[int, Any, dict[str, str]] | Exception) -> tuple[
        Callable[[EsiRequest], Any], list[EsiRequest]]:
    """A transport that plays back responses and records the requests."""
    seen: list[EsiRequest] = []
    queue = list(responses)

    async def transport(request: EsiRequest) -> EsiResponse:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        status, body, headers = item
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return EsiResponse(status=status, headers=headers, body=raw)

    return transport, seen


def client(transport: Callable[[EsiRequest], Any], budget: RecordingBudget) -> EsiClient:
    return EsiClient(transport, budget, base_url="http://esi.test/", user_agent=user_agent("a@b.c"),
                     compatibility_date="2026-08-18", timeout_s=5)


async def test_every_request_sends_user_agent_and_compatibility_date() -> None:
    transport, seen = answers((200, CHARACTER, {"expires": "Sat, 28 Nov 2026 15:39:56 GMT",
                                                "etag": '"e"', "x-esi-error-limit-remain": "99",
                                                "x-esi-error-limit-reset": "30"}))
    budget = RecordingBudget()
    got = await client(transport, budget).character(90000001)
    assert got.data.name == CHARACTER["name"] and got.etag == '"e"' and got.expires_at is not None
    [request] = seen
    assert request.url == "http://esi.test/characters/90000001"
    assert request.headers["X-Compatibility-Date"] == "2026-08-18"
    agent = request.headers["User-Agent"]
    assert agent.startswith("killreport/") and "a@b.c" in agent
    assert budget.reserved == ["/characters/{character_id}"]
    assert budget.settled[0].error_remain == 99


async def test_420_and_429_wait_on_the_budget_and_try_again_without_raising() -> None:
    transport, seen = answers(
        (420, {"error": "This software has exceeded the error limit for ESI."},
         {"x-esi-error-limit-remain": "0", "x-esi-error-limit-reset": "3"}),
        (429, {"error": "Too many requests"}, {"retry-after": "1"}),
        (200, CHARACTER, {}))
    budget = RecordingBudget()
    await client(transport, budget).character(90000001)
    assert len(seen) == 3 and [o.status for o in budget.settled] == [420, 429, 200]


@pytest.mark.parametrize("response,error", [
    ((404, {"error": "Character has been deleted!"}, {}), Deleted),
    ((404, {"error": "Character not found"}, {}), NotFound),
    ((400, {"error": "bad"}, {}), PermanentError),
    ((502, b"<html>Bad gateway</html>", {}), ServerError),
    ((503, {"error": "The datasource tranquility is temporarily unavailable"}, {}), ServerError),
    ((200, b"{not json", {}), MalformedResponse),
    ((200, b"<html>oops</html>", {}), MalformedResponse),
    ((200, {**CHARACTER, "corporation_id": "98000001"}, {}), MalformedResponse),
    ((200, {k: v for k, v in CHARACTER.items() if k != "name"}, {}), MalformedResponse),
    ((200, {**CHARACTER, "race_id": True}, {}), MalformedResponse),
    (TransportError("timed out"), TransportError),
])
async def test_failures_raise_the_right_error_and_always_settle(response: Any, error: type) -> None:
    transport, _ = answers(response)
    budget = RecordingBudget()
    with pytest.raises(error):
        await client(transport, budget).character(90000001)
    assert len(budget.settled) == 1
    if isinstance(response, Exception):
        assert budget.settled[0].is_error and budget.settled[0].status == 0


async def test_special_ids_are_never_requested() -> None:
    transport, seen = answers()
    budget = RecordingBudget()
    for call in (client(transport, budget).character(3000001), client(transport, budget).character(1),
                 client(transport, budget).corporation(1000001)):
        with pytest.raises(PermanentError):
            await call
    assert seen == [] and budget.reserved == []
