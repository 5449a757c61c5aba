"""Dead letters on the status page: their reason and error as text, a link when they name an entity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from killreport.queue.broker import DeadLetter
from killreport.queue.rabbit import RabbitBroker
from killreport.web import build_app
from tests import services
from tests.web.conftest import UNSCHEDULED, Filled, link_to

Client = TestClient[Any, Any]
HOSTILE_ERROR = "<script>window.__pwned = 1</script> \u202eliated"


@pytest_asyncio.fixture(loop_scope="session")
async def with_letters(filled: Filled) -> AsyncIterator[Client]:
    """The app over a vhost of its own holding two dead letters: one names an entity, one is garbage."""
    name = services.unique_name("kr_web_dlq")
    url = services.create_vhost(name)
    try:
        broker = await RabbitBroker.connect(url)
        await broker.publish_dead(DeadLetter(b'{"kind": "corporation", "id": 98000001, "attempt": 5}',
                                             "corporation", 98000001, "malformed", 5, HOSTILE_ERROR, {}))
        await broker.publish_dead(DeadLetter(b"not json", None, None, "unreadable message", 0, "", {}))
        await broker.close()
        link = link_to(url)
        site = build_app(filled.store, link, UNSCHEDULED)
        async with TestClient(TestServer(site, host="127.0.0.1")) as client:
            yield client
        await link.close()
    finally:
        services.delete_vhost(name)


async def test_dead_letters_are_listed_as_text_and_linked_to_their_entity(with_letters: Client) -> None:
    status = await (await with_letters.get("/api/status")).json()
    assert status["broker"]["dead_letters_waiting"] == 2
    assert [(d["kind"], d["id"], d["url"]) for d in status["dead_letters"]] == [
        ("corporation", 98000001, "/corporations/98000001"), (None, None, None)]
    page = await (await with_letters.get("/")).text()
    assert '<a href="/corporations/98000001">98000001</a>' in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page and "<script>window" not in page
