"""Faults: latency draw, injected errors, hangs, downtime, malformed answers, per-path overrides."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import aiohttp
import pytest

from killreport.sim.faults import FaultSettings, draw
from killreport.sim.options import MALFORMED_MODES
from killreport.sim.testing import RunningSim, running_sim
from tests.sim.conftest import CURRENT

MESSAGES = {
    500: "Unhandled internal error encountered!",
    502: "Bad gateway",
    503: "The datasource tranquility is temporarily unavailable",
    504: "Timeout contacting tranquility",
}


def test_latency_draw_is_fixed_plus_jitter() -> None:
    settings = FaultSettings(latency_ms=100, jitter_ms=50)
    delays = [draw(settings, random.Random(n)).delay_s for n in range(200)]
    assert all(0.1 <= d <= 0.15 for d in delays) and len(set(delays)) > 100
    assert draw(FaultSettings(), random.Random(1)).delay_s == 0


def test_fault_settings_validate() -> None:
    settings = FaultSettings()
    for bad in (
        {"error_rate": 2},
        {"latency_ms": -1},
        {"nope": 1},
        {"malformed_modes": ["bogus"]},
        {"hang_s": "x"},
    ):
        with pytest.raises(ValueError):
            settings.update(bad)
    settings.update({"error_rate": 0.5, "malformed_modes": ["huge"]})
    assert settings.error_rate == 0.5 and settings.malformed_modes == ("huge",)


async def test_faults_api_roundtrip_and_latency_applies(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    got = await sim.control.set_faults(latency_ms=30, jitter_ms=10)
    assert (
        got["latency_ms"] == 30
        and got["jitter_ms"] == 10
        and (await sim.control.faults())["latency_ms"] == 30
    )
    async with http.post(f"{sim.base_url}/_sim/faults", json={"error_rate": 3}) as resp:
        assert resp.status == 400
    tasks = [http.get(f"{sim.base_url}/alliances") for _ in range(10)]
    responses = await asyncio.gather(*tasks)
    for resp in responses:
        resp.release()
    assert (await sim.control.stats())["max_in_flight"] > 1  # latency overlaps requests


async def test_injected_errors_use_esi_bodies(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    await sim.control.set_faults(error_rate=1.0)
    seen = set()
    for _ in range(40):
        async with http.get(f"{sim.base_url}/alliances", headers=CURRENT) as resp:
            seen.add(resp.status)
            assert await resp.json() == {"error": MESSAGES[resp.status], "status": resp.status}
        if len(seen) == 4:
            break
    assert seen == {500, 502, 503, 504}


async def test_hang_then_504(http: aiohttp.ClientSession) -> None:
    async with (
        running_sim(alliances=3, hang_rate=1.0, hang_s=0.3) as sim,
        http.get(f"{sim.base_url}/alliances") as resp,
    ):
        assert resp.status == 504 and (await resp.json())["error"] == MESSAGES[504]


async def test_downtime_window(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{sim.base_url}/status") as resp:
        before = (await resp.json())["start_time"]
    await sim.control.downtime(1.0, vip_seconds=0.5)
    async with http.get(f"{sim.base_url}/alliances") as resp:
        assert resp.status == 503 and (await resp.json())["error"] == MESSAGES[503]
    async with http.get(f"{sim.base_url}/status") as resp:
        assert resp.status == 502
    async with http.post(f"{sim.base_url}/universe/names", json=[500001]) as resp:
        assert resp.status == 503
    await asyncio.sleep(1.1)
    async with http.get(f"{sim.base_url}/status") as resp:
        status = await resp.json()
        assert resp.status == 200 and status["start_time"] > before and status["vip"] is True
    await asyncio.sleep(0.5)
    async with http.get(f"{sim.base_url}/status") as resp:
        assert (await resp.json())["vip"] is False
    async with http.get(f"{sim.base_url}/alliances") as resp:
        assert resp.status == 200


async def _malformed(
    sim: RunningSim, http: aiohttp.ClientSession, path: str, mode: str
) -> tuple[int, str, bytes]:
    await sim.control.override(path, mode=mode, times=1)
    async with http.get(sim.base_url + path, headers=CURRENT) as resp:
        return resp.status, resp.headers["Content-Type"], await resp.read()


async def test_malformed_modes(http: aiohttp.ClientSession) -> None:
    async with running_sim(alliances=5, huge_bytes=2_000_000) as sim:
        corp = next(c.id for c in sim.sim.universe.corporations.values() if c.alliance_id)
        path = f"/corporations/{corp}"
        async with http.get(sim.base_url + path, headers=CURRENT) as resp:
            good = await resp.json()
        results = {mode: await _malformed(sim, http, path, mode) for mode in MALFORMED_MODES}
        with pytest.raises(ValueError):
            json.loads(results["invalid_json"][2])
        assert results["html_200"][:2] == (200, "text/html") and b"<html" in results["html_200"][2]
        assert results["html_502"][:2] == (502, "text/html")
        assert len(json.loads(results["missing_field"][2])) == len(good) - 1
        assert any(type(v) is not type(good[k]) for k, v in json.loads(results["wrong_type"][2]).items())
        with pytest.raises(ValueError):
            json.loads(results["truncated"][2])
        assert len(results["truncated"][2]) < len(json.dumps(good, ensure_ascii=False).encode())
        huge = results["huge"][2]
        assert len(huge) >= 2_000_000 and {k: v for k, v in json.loads(huge).items() if k in good} == good
        async with http.get(sim.base_url + path, headers=CURRENT) as resp:
            assert await resp.json() == good  # times=1 used up


async def test_malformed_rate_and_lists(http: aiohttp.ClientSession) -> None:
    options: dict[str, Any] = {"alliances": 5, "malformed_rate": 1.0, "malformed_modes": ("wrong_type",)}
    async with running_sim(**options) as sim, http.get(f"{sim.base_url}/alliances") as resp:
        assert "not an id" in await resp.json()


async def test_status_override_until_cleared(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    corp = next(iter(sim.sim.universe.corporations))
    await sim.control.override(f"/latest/corporations/{corp}/", status=500)
    for _ in range(3):
        async with http.get(f"{sim.base_url}/corporations/{corp}") as resp:
            assert resp.status == 500
    assert f"/corporations/{corp}" in (await sim.control.faults())["overrides"]
    async with http.get(f"{sim.base_url}/alliances") as resp:
        assert resp.status == 200
    await sim.control.clear_overrides()
    async with http.get(f"{sim.base_url}/corporations/{corp}") as resp:
        assert resp.status == 200
    with pytest.raises(ValueError):
        await sim.control.override("/x", status=500, mode="huge")
