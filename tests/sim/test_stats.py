"""The stats endpoint: routes and statuses, headers seen, concurrency, reset; control calls uncounted."""

from __future__ import annotations

import aiohttp

from killreport.sim.stats import Stats
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
    assert stats["errors_by_window"] == {"127.0.0.1": [2]}  # the two 404s
    reset = await sim.control.reset_stats()
    assert reset["requests"] == 0 and reset["by_route"] == {} and reset["user_agents"] == {}
    assert reset["cache_violations"]["total"] == 0 and reset["limit_violations"]["total"] == 0


def test_seconds_at_each_in_flight_level() -> None:
    now = [0.0]
    stats = Stats(lambda: now[0])
    for at, event in ((0, "start"), (1, "start"), (3, "finish"), (4, "finish"), (10, "start")):
        now[0] = at
        if event == "start":
            stats.started(None, None)
        else:
            stats.finished("GET /alliances", 200)
    # 0-1 s one in flight, 1-3 s two, 3-4 s one, 4-10 s none.
    assert stats.as_dict()["in_flight_seconds"] == {"0": 6.0, "1": 2.0, "2": 2.0}
    stats.reset()
    assert stats.as_dict()["in_flight_seconds"] == {}
