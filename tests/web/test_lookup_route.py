"""POST /api/lookup behind WEB_TOKEN, and answered without RabbitMQ when nothing must be queued."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from killreport.web import build_app
from tests.web.conftest import CLOSED_PORT_AMQP, UNSCHEDULED, Filled, link_to

Client = TestClient[Any, Any]
TOKEN = "s3cret-token-for-tests-only"


@pytest_asyncio.fixture(loop_scope="session")
async def guarded(filled: Filled) -> AsyncIterator[Client]:
    """The app as `killreport web` builds it with WEB_TOKEN set, its broker unreachable."""
    site = build_app(filled.store, link_to(CLOSED_PORT_AMQP), UNSCHEDULED, token=TOKEN)
    async with TestClient(TestServer(site, host="127.0.0.1")) as c:
        yield c


async def test_the_route_needs_the_token(guarded: Client) -> None:
    resp = await guarded.post("/api/lookup", json=[99000001])
    assert resp.status == 401 and "Goonswarm" not in await resp.text()


async def test_held_and_npc_ids_are_answered_while_the_broker_is_down(guarded: Client) -> None:
    resp = await guarded.post("/api/lookup", json={"ids": [99000001, 1000125], "wait_s": 0},
                              headers={"Authorization": f"Bearer {TOKEN}"})
    body = await resp.json()
    assert resp.status == 200, body
    assert [(a["id"], a["status"], a["kind"]) for a in body["ids"]] == [
        (99000001, "held", "alliance"), (1000125, "npc", "corporation")]
    assert (body["ids"][0]["name"], body["queued"]) == ("Goonswarm Federation", 0)


async def test_an_id_to_queue_while_the_broker_is_down_is_a_json_503(guarded: Client) -> None:
    resp = await guarded.post("/api/lookup", json=[90009999], headers={"Authorization": f"Bearer {TOKEN}"})
    body = await resp.json()
    assert resp.status == 503 and body["error"].startswith("the job queue is unavailable"), body
