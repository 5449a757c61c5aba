"""Caching: strong ETag from the body, Last-Modified, Expires per route, 304s, cache violations."""

from __future__ import annotations

import asyncio
import email.utils

import aiohttp

from killreport.sim.testing import RunningSim, running_sim
from tests.sim.conftest import CURRENT


def _ts(value: str) -> float:
    return email.utils.parsedate_to_datetime(value).timestamp()


async def test_cache_headers_and_ttl(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    corp = next(c for c in sim.sim.universe.corporations.values() if c.alliance_id)
    char = next(c for c in sim.sim.universe.characters.values() if not c.deleted and not c.npc)
    for path, ttl in (
        ("/alliances", 3600),
        (f"/corporations/{corp.id}", 3600),
        (f"/characters/{char.id}", 86400),
        ("/status", 30),
    ):
        async with http.get(sim.base_url + path, headers=CURRENT) as resp:
            etag = resp.headers["ETag"]
            assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
            assert resp.headers["Cache-Control"] == "public"
            lifetime = _ts(resp.headers["Expires"]) - _ts(resp.headers["Date"])
            assert ttl - 2 <= lifetime <= ttl + 2, path
            assert _ts(resp.headers["Last-Modified"]) <= _ts(resp.headers["Date"])


async def test_etag_differs_by_schema_and_304_on_match(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    corp = next(c for c in sim.sim.universe.corporations.values() if c.alliance_id)
    url = f"{sim.base_url}/corporations/{corp.id}"
    async with http.get(url, headers=CURRENT) as resp:
        etag, body = resp.headers["ETag"], await resp.read()
    async with http.get(url) as resp:
        assert resp.headers["ETag"] != etag
    async with http.get(url, headers=CURRENT | {"If-None-Match": etag}) as resp:
        assert resp.status == 304 and await resp.read() == b""
        assert resp.headers["ETag"] == etag and "Expires" in resp.headers and "Last-Modified" in resp.headers
    async with http.get(url, headers=CURRENT | {"If-None-Match": '"stale"'}) as resp:
        assert resp.status == 200 and await resp.read() == body
    stats = await sim.control.stats()
    assert stats["not_modified"] == 1


async def test_expires_refreshes_and_violations_are_counted(http: aiohttp.ClientSession) -> None:
    async with running_sim(alliances=5, cache_scale=1 / 1800) as sim:  # 3600 s becomes 2 s
        url = f"{sim.base_url}/alliances"
        async with http.get(url) as resp:
            first = resp.headers["Expires"]
            etag = resp.headers["ETag"]
        async with http.get(url, headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304
        stats = await sim.control.stats()
        assert stats["cache_violations"] == {"total": 1, "by_route": {"GET /alliances": 1}}
        await asyncio.sleep(max(0.0, _ts(first) - _ts(resp.headers["Date"])) + 1.1)
        async with http.get(url, headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304 and _ts(resp.headers["Expires"]) > _ts(first)
        assert (await sim.control.stats())["cache_violations"]["total"] == 1
        chars = sorted(c for c, v in sim.sim.universe.characters.items() if not v.npc)[:2]
        for _ in range(2):
            async with http.post(f"{sim.base_url}/characters/affiliation", json=chars) as resp:
                assert resp.status == 200
        assert (await sim.control.stats())["cache_violations"]["total"] == 1  # POSTs never count
