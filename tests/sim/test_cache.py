"""Caching: strong ETag from the body, Last-Modified, Expires per route, 304s, cache violations."""

from __future__ import annotations

import asyncio
import email.utils

import aiohttp
import pytest

from killreport.sim.options import parse_route_scale
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


async def test_violations_are_counted_per_route_and_for_conditional_requests(
        sim: RunningSim, http: aiohttp.ClientSession) -> None:
    corp = next(c for c in sim.sim.universe.corporations.values() if c.alliance_id)
    char = next(c for c in sim.sim.universe.characters.values() if not c.deleted and not c.npc)
    etags = {}
    for path in (f"/corporations/{corp.id}", f"/characters/{char.id}"):
        async with http.get(sim.base_url + path, headers=CURRENT) as resp:
            etags[path] = resp.headers["ETag"]
    for path, etag in etags.items():  # conditional, before Expires: a 304, and still a violation
        async with http.get(sim.base_url + path, headers=CURRENT | {"If-None-Match": etag}) as resp:
            assert resp.status == 304
    async with http.get(f"{sim.base_url}/latest/corporations/{corp.id}/", headers=CURRENT) as resp:
        assert resp.status == 200  # another spelling of the same resource
    stats = await sim.control.stats()
    assert stats["cache_violations"] == {"total": 3, "by_route": {
        "GET /corporations/{corporation_id}": 2, "GET /characters/{character_id}": 1}}
    assert stats["not_modified"] == 2


async def test_affiliation_ids_asked_again_before_expires_are_counted_apart(
        sim: RunningSim, http: aiohttp.ClientSession) -> None:
    a, b, c = sorted(c for c, v in sim.sim.universe.characters.items() if not v.npc)[:3]
    for batch in ([a, b], [b, c], [c]):
        async with http.post(f"{sim.base_url}/characters/affiliation", json=batch) as resp:
            assert resp.status == 200
    stats = await sim.control.stats()
    assert stats["affiliation_early_ids"] == 2 and stats["cache_violations"]["total"] == 0
    assert (await sim.control.reset_stats())["affiliation_early_ids"] == 0


async def test_cache_scale_001_gives_caches_of_seconds_on_every_route(http: aiohttp.ClientSession) -> None:
    async with running_sim(alliances=5, cache_scale=0.01) as sim:
        uni = sim.sim.universe
        alliance = uni.active_alliance_ids()[0]
        corp = next(c for c in uni.corporations.values() if c.alliance_id)
        char = next(c for c in uni.characters.values() if not c.deleted and not c.npc)
        for path, ttl in (
            ("/alliances", 3600), (f"/alliances/{alliance}", 3600),
            (f"/alliances/{alliance}/corporations", 3600),
            (f"/corporations/{corp.id}", 3600), (f"/corporations/{corp.id}/alliancehistory", 3600),
            (f"/characters/{char.id}", 86400), (f"/characters/{char.id}/corporationhistory", 86400),
            ("/status", 30), ("/characters/affiliation", 3600),
        ):
            method = "POST" if path.endswith("affiliation") else "GET"
            body = [char.id] if method == "POST" else None
            async with http.request(method, sim.base_url + path, json=body, headers=CURRENT) as resp:
                assert resp.status == 200, path
                lifetime = _ts(resp.headers["Expires"]) - _ts(resp.headers["Date"])
            # Expires is rounded up to a whole second and Date down: up to 2 s more than the scaled time.
            assert ttl * 0.01 - 1 <= lifetime <= ttl * 0.01 + 2, (path, lifetime)


async def test_a_route_scale_overrides_the_cache_scale_on_its_route(http: aiohttp.ClientSession) -> None:
    async with running_sim(alliances=5, cache_scale=0.01, route_cache_scales=(("character", 0.001),)) as sim:
        uni = sim.sim.universe
        char = next(c for c in uni.characters.values() if not c.deleted and not c.npc)
        lifetimes = {}
        for path in (f"/characters/{char.id}", f"/corporations/{char.corporation_id}"):
            async with http.get(sim.base_url + path, headers=CURRENT) as resp:
                assert resp.status == 200, path
                lifetimes[path] = _ts(resp.headers["Expires"]) - _ts(resp.headers["Date"])
    assert 86.4 - 1 <= lifetimes[f"/characters/{char.id}"] <= 86.4 + 2, lifetimes  # 86400 x 0.001
    assert 36 - 1 <= lifetimes[f"/corporations/{char.corporation_id}"] <= 36 + 2, lifetimes  # 3600 x 0.01


async def test_a_route_scale_for_no_route_is_refused() -> None:
    with pytest.raises(ValueError, match="no route named charactr"):
        async with running_sim(alliances=1, route_cache_scales=(("charactr", 0.1),)):
            pass


@pytest.mark.parametrize(("text", "wanted"), [
    ("character=0.5", ("character", 0.5)), (" affiliation=2 ", ("affiliation", 2.0))])
def test_route_scales_parse(text: str, wanted: tuple[str, float]) -> None:
    assert parse_route_scale(text, ("character", "affiliation")) == wanted


@pytest.mark.parametrize("text", ["character", "charactr=0.5", "character=0", "character=-1",
                                  "character=abc", "character=inf", "character=nan", "=0.5"])
def test_bad_route_scales_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="bad route scale"):
        parse_route_scale(text, ("character", "affiliation"))
