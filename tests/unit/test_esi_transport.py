"""AiohttpTransport against a tiny local aiohttp server: body cap, total timeout, refused connections."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from killreport.esi.errors import MalformedResponse, TransportError
from killreport.esi.transport import aiohttp_transport
from killreport.esi.types import EsiRequest
from tests.misbehaving_http import huge, serving, slow


async def _ok(request: web.Request) -> web.Response:
    return web.json_response([1, 2], headers={"X-ESI-Error-Limit-Remain": "99",
                                              "X-Seen-Agent": request.headers.get("User-Agent", "")})


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async with serving((("/ok", _ok), ("/huge", huge), ("/slow", slow))) as base:
        yield base


async def test_answers_with_lower_case_headers(server: str) -> None:
    async with aiohttp_transport(4, 1_000_000) as transport:
        got = await transport(EsiRequest("GET", server + "/ok", {"User-Agent": "killreport/x"}))
    assert got.status == 200 and got.body == b"[1, 2]"
    assert got.headers["x-esi-error-limit-remain"] == "99" and got.headers["x-seen-agent"] == "killreport/x"


async def test_body_over_the_cap_is_malformed(server: str) -> None:
    async with aiohttp_transport(4, 100_000) as transport:
        with pytest.raises(MalformedResponse):
            await transport(EsiRequest("GET", server + "/huge"))


async def test_total_timeout_is_a_transport_error(server: str) -> None:
    async with aiohttp_transport(4, 1_000) as transport:
        with pytest.raises(TransportError):
            await transport(EsiRequest("GET", server + "/slow", timeout_s=0.3))


async def test_refused_connection_is_a_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with aiohttp_transport(4, 1_000) as transport:
        with pytest.raises(TransportError):
            await transport(EsiRequest("GET", f"http://127.0.0.1:{port}/", timeout_s=2))
