"""Errors are one line with the right status, as a page or as `{"error": ...}`; never a traceback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import create_async_engine

from killreport.web import BrokerLink, build_app
from killreport.web.security import SECURITY_HEADERS
from tests.stores import as_store
from tests.web.conftest import UNSCHEDULED, Filled

Client = TestClient[Any, Any]
BAD_IDS = ["abc", "0", "-1", "1.5", "1e3", "0x10", "9223372036854775808", "99999999999999999999", "%20",
           "\uff11\uff12\uff13", "<script>"]  # the last but one: fullwidth digits


async def error_of(client: Client, path: str, status: int) -> str:
    """The error of a GET: one JSON line under /api/, else the HTML page; never a traceback."""
    resp = await client.get(path)
    text = await resp.text()
    assert resp.status == status, (path, text[:300])
    assert "Traceback" not in text
    if path.startswith("/api"):
        body = await resp.json()
        assert list(body) == ["error"] and "\n" not in body["error"]
        return str(body["error"])
    assert resp.content_type == "text/html"
    return text


@pytest.mark.parametrize("kind", ["alliances", "corporations", "characters"])
async def test_unknown_ids_are_404_as_a_page_and_as_json(client: Client, kind: str) -> None:
    assert "in the copy" in await error_of(client, f"/{kind}/123456789", 404)
    assert "in the copy" in await error_of(client, f"/api/{kind}/123456789", 404)


async def test_unknown_lists_and_paths_are_404(client: Client) -> None:
    await error_of(client, "/api/alliances/123456789/corporations", 404)
    await error_of(client, "/api/corporations/123456789/characters", 404)
    assert "no such page" in await error_of(client, "/nowhere", 404)
    assert await error_of(client, "/api/nowhere", 404) == "no such page"


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_bad_ids_are_400_with_a_clear_message(client: Client, bad: str) -> None:
    message = await error_of(client, f"/api/alliances/{bad}", 400)
    assert message.startswith("id must be a whole number from 1 to 9223372036854775807, got ")
    assert "id must be a whole number" in await error_of(client, f"/corporations/{bad}", 400)


@pytest.mark.parametrize(("query", "says"), [
    ("per_page=0", "per_page must be a whole number from 1 to 1000, got '0'"),
    ("per_page=1001", "per_page must be"), ("per_page=ten", "per_page must be"),
    ("page=0", "page must be"), ("page=-1", "page must be"), ("page=1&page=2", "page is given 2 times"),
    ("page=999999&per_page=1000", "starts past row"),
])
async def test_bad_paging_is_400(client: Client, query: str, says: str) -> None:
    assert says in await error_of(client, f"/api/alliances/99000001/corporations?{query}", 400)
    assert says.replace("'", "&#39;") in await error_of(client, f"/alliances/99000001?{query}", 400)


@pytest.mark.parametrize(("path", "says"), [
    ("/api/changes?since=yesterday", "since must be a time like"),
    ("/api/changes?since=99999999999d", "since must be a time like"),
    ("/api/changes?kind=ship", "kind must be one of alliance, corporation, character"),
    ("/api/changes?id=x", "id must be a whole number"),
    ("/api/search", "q is required"), ("/api/search?q=%20", "q is required"),
    ("/api/search?q=" + "x" * 101, "q must be at most 100 characters"),
    ("/api/search?q=a%00b", "NUL"),
])
async def test_bad_filters_are_400(client: Client, path: str, says: str) -> None:
    assert says in await error_of(client, path, 400)


async def test_only_get_is_served(client: Client) -> None:
    resp = await client.post("/api/status")
    assert resp.status == 405 and (await resp.json())["error"] == "only GET and HEAD are served here"


async def test_sql_looking_input_is_only_ever_a_value(client: Client) -> None:
    for q in ("'; DROP TABLE alliances; --", "1' OR '1'='1", "Robert'); DROP TABLE corporations;--"):
        resp = await client.get("/api/search", params={"q": q})
        assert resp.status == 200
    found = await (await client.get("/api/search", params={"q": "1' OR '1'='1"})).json()
    assert {r["name"] for r in found["items"]} == {"1' OR '1'='1"}
    assert (await client.get("/api/alliances/99000001")).status == 200


@pytest.mark.parametrize("path", ["/", "/alliances/99000001", "/api/status", "/api/alliances/99000001",
                                  "/static/style.css", "/static/status.js", "/nowhere", "/api/alliances/x"])
async def test_every_answer_carries_the_security_headers(client: Client, path: str) -> None:
    resp = await client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers[name] == value
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in resp.headers["Content-Security-Policy"]


@pytest_asyncio.fixture(loop_scope="session")
async def no_database(unreachable_link: BrokerLink) -> AsyncIterator[Client]:
    """The app over a database that cannot be reached (nothing listens on port 1)."""
    engine = create_async_engine("postgresql+asyncpg://root@127.0.0.1:1/killreport")
    site = build_app(as_store(engine), unreachable_link, UNSCHEDULED)
    async with TestClient(TestServer(site, host="127.0.0.1")) as c:
        yield c
    await engine.dispose()


@pytest.mark.parametrize("path", ["/", "/alliances/99000001", "/search?q=x", "/api/status",
                                  "/api/alliances/99000001", "/api/changes"])
async def test_a_database_that_is_down_is_a_503_in_one_line(no_database: Client, path: str) -> None:
    text = await error_of(no_database, path, 503)
    assert "the database is unavailable" in text


@pytest_asyncio.fixture(loop_scope="session")
async def no_broker(filled: Filled, unreachable_link: BrokerLink) -> AsyncIterator[Client]:
    """The app over the shared database and a broker that cannot be reached."""
    site = build_app(filled.store, unreachable_link, UNSCHEDULED)
    async with TestClient(TestServer(site, host="127.0.0.1")) as c:
        yield c


async def test_without_the_broker_the_status_page_still_shows_the_database(no_broker: Client) -> None:
    resp = await no_broker.get("/")
    body = await resp.text()
    assert resp.status == 200
    assert "Broker: <span data-k=\"broker.state\" class=\"bad\">unreachable: " in body
    assert 'data-rows="stored"' in body and "<td>alliances</td>" in body
    status = await (await no_broker.get("/api/status")).json()
    assert status["broker"]["reachable"] is False and status["queues"] == []
    assert status["stored"]["alliances"] > 0
