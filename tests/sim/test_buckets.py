"""Token buckets over HTTP: groups from --bucket, X-Ratelimit headers, real costs, 429 + Retry-After."""

from __future__ import annotations

import aiohttp
import pytest

from killreport.sim.options import parse_bucket
from killreport.sim.testing import running_sim


def test_parse_bucket() -> None:
    spec = parse_bucket("char:/characters/{character_id}+/corporations/{id}=150/15m")
    assert spec.group == "char" and spec.tokens == 150 and spec.window_s == 900
    assert spec.routes == ("/characters/{}", "/corporations/{}") and spec.limit_header == "150/15m"
    for bad in ("nogroup=1/1m", "g:/status=ten/1m", "g:/status=1/1d"):
        with pytest.raises(ValueError):
            parse_bucket(bad)


async def test_bucket_headers_costs_and_429(http: aiohttp.ClientSession) -> None:
    buckets = (parse_bucket("corp:/corporations/{corporation_id}+/alliances/{alliance_id}=12/15m"),)
    async with running_sim(alliances=5, buckets=buckets) as sim:
        corp = next(c for c in sim.sim.universe.corporations.values() if c.alliance_id)
        url = f"{sim.base_url}/corporations/{corp.id}"
        async with http.get(url) as resp:
            assert resp.status == 200
            assert resp.headers["X-Ratelimit-Group"] == "corp"
            assert resp.headers["X-Ratelimit-Limit"] == "12/15m"
            assert (resp.headers["X-Ratelimit-Used"], resp.headers["X-Ratelimit-Remaining"]) == ("2", "10")
            assert "X-ESI-Error-Limit-Remain" not in resp.headers
            etag = resp.headers["ETag"]
        async with http.get(url, headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304 and resp.headers["X-Ratelimit-Used"] == "3"
        async with http.get(f"{sim.base_url}/corporations/98999999") as resp:
            assert resp.status == 404 and resp.headers["X-Ratelimit-Used"] == "8"
        await sim.control.set_faults(error_rate=1.0)
        async with http.get(url) as resp:
            assert resp.status >= 500 and resp.headers["X-Ratelimit-Used"] == "8"
        await sim.control.set_faults(error_rate=0.0)
        async with http.get(f"{sim.base_url}/alliances/{corp.alliance_id}") as resp:  # same group
            assert resp.headers["X-Ratelimit-Used"] == "10"
        async with http.get(url) as resp:
            assert resp.headers["X-Ratelimit-Used"] == "12" and resp.headers["X-Ratelimit-Remaining"] == "0"
        async with http.get(url) as resp:
            assert resp.status == 429
            assert 0 < int(resp.headers["Retry-After"]) <= 900
            assert resp.headers["X-Ratelimit-Remaining"] == "0"
        async with http.get(f"{sim.base_url}/alliances") as resp:  # not in the group
            assert resp.status == 200 and "X-Ratelimit-Group" not in resp.headers
            assert "X-ESI-Error-Limit-Remain" in resp.headers
        stats = await sim.control.stats()
        assert stats["limit_violations"]["429"] == 1


async def test_unknown_bucket_route_is_refused() -> None:
    with pytest.raises(ValueError):
        async with running_sim(alliances=2, buckets=(parse_bucket("x:/nothing=1/1m"),)):
            pass


async def test_corporationhistory_limit_without_headers(http: aiohttp.ClientSession) -> None:
    async with running_sim(alliances=5, history_per_min=2) as sim:
        char = next(c.id for c in sim.sim.universe.characters.values() if not c.npc and not c.deleted)
        statuses = []
        for _ in range(3):
            async with http.get(f"{sim.base_url}/characters/{char}/corporationhistory") as resp:
                statuses.append(resp.status)
                retry = resp.headers.get("Retry-After")
                group = resp.headers.get("X-Ratelimit-Group")
        assert statuses == [200, 200, 429] and retry is None and group is None
