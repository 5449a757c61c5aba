"""Loopback by default; anywhere else only with WEB_TOKEN, which every request must then carry.

The app object is tested with a token directly: no test ever listens on anything but 127.0.0.1.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from killreport.config import ConfigError
from killreport.web import build_app, check_bind, is_loopback, token_matches
from tests.cluster import cli, env_for, web_process
from tests.web.conftest import CLOSED_PORT_AMQP, UNSCHEDULED, Filled, link_to

Client = TestClient[Any, Any]
TOKEN = "s3cret-token-for-tests-only"
NO_DATABASE = "postgresql://root@127.0.0.1:1/killreport"


def basic(user: str, password: str) -> str:
    """A basic-auth Authorization header."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]"])
def test_loopback_addresses_need_no_token(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, "")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.org", "localhost",
                                  ""])
def test_any_other_address_needs_a_token(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match="without WEB_TOKEN"):
        check_bind(host, "")
    check_bind(host, TOKEN)


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 16 characters"):
        check_bind("127.0.0.1", "short")


@pytest.mark.parametrize(("header", "ok"), [
    (f"Bearer {TOKEN}", True), (f"bearer  {TOKEN} ", True), (basic("anyone", TOKEN), True),
    (basic("", TOKEN), True), ("", False), ("Bearer", False), ("Bearer ", False), (f"Bearer {TOKEN}x", False),
    (f"Token {TOKEN}", False), (basic(TOKEN, "wrong"), False), ("Basic !!!not-base64", False),
    (TOKEN, False), (f"Bearer {TOKEN[:-1]}", False),
])
def test_the_token_is_a_bearer_token_or_the_basic_auth_password(header: str, ok: bool) -> None:
    assert token_matches(header, TOKEN) is ok


@pytest_asyncio.fixture(loop_scope="session")
async def guarded(filled: Filled) -> AsyncIterator[Client]:
    """The app as `killreport web` builds it when WEB_TOKEN is set."""
    link = link_to(CLOSED_PORT_AMQP)
    site = build_app(filled.store, link, UNSCHEDULED, token=TOKEN)
    async with TestClient(TestServer(site, host="127.0.0.1")) as c:
        yield c


@pytest.mark.parametrize("path", ["/", "/alliances/99000001", "/api/status", "/api/alliances/99000001",
                                  "/static/style.css", "/nowhere"])
async def test_without_the_token_nothing_is_served(guarded: Client, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-of-some-length"},
                    {"Authorization": basic("admin", "admin")}):
        resp = await guarded.get(path, headers=headers)
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith('Basic realm="killreport"')
        assert "Goonswarm" not in await resp.text()


async def test_with_the_token_pages_are_served(guarded: Client) -> None:
    assert (await guarded.get("/api/alliances/99000001",
                              headers={"Authorization": f"Bearer {TOKEN}"})).status == 200
    resp = await guarded.get("/alliances/99000001", headers={"Authorization": basic("me", TOKEN)})
    assert resp.status == 200 and "Goonswarm" in await resp.text()
    css = await guarded.get("/static/style.css", headers={"Authorization": f"Bearer {TOKEN}"})
    assert css.status == 200


async def test_the_api_says_why_it_refuses(guarded: Client) -> None:
    body = await (await guarded.get("/api/status")).json()
    assert body == {"error": "this server needs its token: `Authorization: Bearer TOKEN`, or the token as "
                             "the basic-auth password"}


async def test_the_command_refuses_a_public_address_without_a_token_in_one_line(filled: Filled) -> None:
    # The database URL points nowhere, so even a broken check could not get as far as listening.
    env = env_for(NO_DATABASE, CLOSED_PORT_AMQP, "http://127.0.0.1:1", WEB_TOKEN="")
    done = await cli(env, "web", "--host", "0.0.0.0", "--port", "0", timeout_s=60)
    assert done.code == 1 and done.out == ""
    assert done.err.count("\n") == 1 and "without WEB_TOKEN" in done.err, done.err
    short = await cli({**env, "WEB_TOKEN": "abc"}, "web", "--host", "0.0.0.0", timeout_s=60)
    assert short.code == 1 and "WEB_TOKEN must be at least 16 characters" in short.err
    bad_port = await cli(env, "web", "--port", "70000", timeout_s=60)
    assert bad_port.code == 2 and "--port must be from 0 to 65535" in bad_port.err


async def test_the_command_serves_on_loopback_and_stops_on_sigterm(filled: Filled) -> None:
    env = env_for(filled.url, CLOSED_PORT_AMQP, "http://127.0.0.1:1", WEB_TOKEN="")
    async with web_process(env) as base, aiohttp.ClientSession() as session, \
            session.get(base + "api/alliances/99000001") as resp:
        assert resp.status == 200
        assert (await resp.json())["alliance"]["ticker"] == "CONDI"
