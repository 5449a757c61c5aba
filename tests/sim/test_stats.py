"""The stats endpoint: routes and statuses, headers seen, concurrency, reset; control calls uncounted."""

from __future__ import annotations

import aiohttp

from killreport.sim.testing import RunningSim
from tests.sim.conftest import CURRENT


async def test_stats_count_and_reset(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    corp = next(iter(sim.sim.universe.corporations))
    async with http.get(f"{sim.base_url}/alliances", headers=CURRENT):
        pass
    async with http.get(f"{sim.base_url}/latest/corporations/{corp}/", headers={"User-Agent": "other/2"}):
        pass
    async with http.get(f"{sim.base_url}/characters/90000000?compatibility_date=2026-06-09"):
        pass
    async with http.get(f"{sim.base_url}/bogus"):
        pass
    await sim.control.truth()
    stats = await sim.control.stats()
    assert stats["requests"] == 4
    assert stats["by_route"] == {
        "GET /alliances": {"200": 1},
        "GET /corporations/{corporation_id}": {"200": 1},
        "GET /characters/{character_id}": {"404": 1},
        "unknown": {"404": 1},
    }
    assert stats["user_agents"]["killreport-tests/0.1 (tests@example.com)"] == 1
    assert stats["user_agents"]["other/2"] == 1
    assert stats["compatibility_dates"] == {"2026-08-18": 1, "(none)": 2, "2026-06-09": 1}
    assert stats["max_in_flight"] >= 1 and stats["in_flight"] == 0
    reset = await sim.control.reset_stats()
    assert reset["requests"] == 0 and reset["by_route"] == {} and reset["user_agents"] == {}
    assert reset["cache_violations"]["total"] == 0 and reset["limit_violations"]["total"] == 0
