"""The error limit over HTTP: headers on every response, 420 once spent, back after the window."""

from __future__ import annotations

import asyncio

import aiohttp

from killreport.sim.testing import RunningSim, running_sim


async def test_headers_count_down_and_420_until_window_ends(http: aiohttp.ClientSession) -> None:
    async with running_sim(alliances=5, error_window_s=1.5, error_budget=3) as sim:
        async with http.get(f"{sim.base_url}/alliances") as resp:
            assert resp.headers["X-ESI-Error-Limit-Remain"] == "3"
            assert 0 < int(resp.headers["X-ESI-Error-Limit-Reset"]) <= 2
            assert "X-Ratelimit-Group" not in resp.headers
        for remain in ("2", "1", "0"):
            async with http.get(f"{sim.base_url}/characters/90000000") as resp:
                assert resp.status == 404 and resp.headers["X-ESI-Error-Limit-Remain"] == remain
        for path in ("/alliances", "/status", "/characters/90000000"):
            async with http.get(sim.base_url + path) as resp:
                assert resp.status == 420
                assert resp.headers["X-ESI-Error-Limit-Remain"] == "0"
                assert "error limit" in (await resp.json())["error"]
        async with http.post(f"{sim.base_url}/universe/names", json=[1]) as resp:
            assert resp.status == 420
        stats = await sim.control.stats()
        assert stats["limit_violations"]["420"] == 4
        await asyncio.sleep(1.6)
        async with http.get(f"{sim.base_url}/alliances") as resp:
            assert resp.status == 200 and resp.headers["X-ESI-Error-Limit-Remain"] == "3"


async def test_every_error_kind_counts(http: aiohttp.ClientSession) -> None:
    async with running_sim(alliances=5, error_budget=50, hang_s=0.05) as sim:
        await sim.control.set_faults(error_rate=1.0)
        async with http.get(f"{sim.base_url}/alliances") as resp:
            assert resp.status in (500, 502, 503, 504) and resp.headers["X-ESI-Error-Limit-Remain"] == "49"
        await sim.control.set_faults(error_rate=0.0, hang_rate=1.0)
        async with http.get(f"{sim.base_url}/alliances") as resp:
            assert resp.status == 504 and resp.headers["X-ESI-Error-Limit-Remain"] == "48"
        await sim.control.set_faults(hang_rate=0.0)
        async with http.post(f"{sim.base_url}/universe/names", json=[]) as resp:
            assert resp.status == 400 and resp.headers["X-ESI-Error-Limit-Remain"] == "47"
        async with http.get(f"{sim.base_url}/alliances") as resp:
            etag = resp.headers["ETag"]
        async with http.get(f"{sim.base_url}/alliances", headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304 and resp.headers["X-ESI-Error-Limit-Remain"] == "47"


async def test_spend_error_budget_mimics_another_program(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    spent = await sim.control.spend_error_budget()
    assert spent["remain"] == 0 and spent["ip"] == "127.0.0.1"
    async with http.get(f"{sim.base_url}/alliances") as resp:
        assert resp.status == 420
    await sim.control.spend_error_budget(ip="10.0.0.9")  # another IP's budget leaves ours alone
    stats = await sim.control.stats()
    assert stats["limit_violations"]["total"] == 1
    assert "/_sim" not in str(stats["by_route"])
