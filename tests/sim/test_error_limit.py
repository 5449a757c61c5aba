"""The error limit over HTTP: headers on every response, 420 once spent, back after the window; and
another program on the same IP spending the budget over time (the limiter's drain, on a fake clock)."""

from __future__ import annotations

import asyncio
import math

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from killreport.sim.limits import ErrorLimiter
from killreport.sim.testing import RunningSim, running_sim


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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


def test_drain_lowers_remain_at_its_rate_and_stops_at_zero() -> None:
    clock = FakeClock()
    limiter = ErrorLimiter(60, 100, clock)
    assert limiter.spend("a", rate=20).remain == 100  # the other program's first error is 50 ms away
    for elapsed, remain in ((0.05, 99), (0.5, 90), (1.0, 80), (2.49, 51), (4.95, 1)):
        clock.now = 1000.0 + elapsed
        state = limiter.admit("a")
        assert state.remain == remain and not state.blocked, elapsed
    clock.now = 1005.0
    assert limiter.admit("a").blocked and limiter.windows_spent("a") == 1
    clock.now = 1030.0
    assert limiter.admit("a").remain == 0 and limiter.admit("a").reset_s == 30
    assert limiter.windows_spent("a") == 1  # stopped at 0: no further window counted
    assert limiter.admit("b").remain == 100  # per IP


def test_drain_ends_with_its_window_and_the_next_window_is_fresh() -> None:
    clock = FakeClock()
    limiter = ErrorLimiter(15, 100, clock)
    limiter.admit("a")
    clock.now += 5
    limiter.spend("a", rate=2)
    clock.now += 9.9
    assert limiter.admit("a").remain == 100 - 19
    clock.now += 0.1  # the window ends: the drain goes with it, unfinished
    assert limiter.admit("a").remain == 100 and limiter.admit("a").reset_s == 15
    clock.now += 14
    assert limiter.admit("a").remain == 100
    assert limiter.windows_spent("a") == 0


def test_a_window_no_one_reads_again_still_counts_its_spent_budget() -> None:
    clock = FakeClock()
    limiter = ErrorLimiter(10, 50, clock)
    limiter.spend("a", rate=10)
    clock.now += 60  # spent at 1005, over at 1010, never read until a new window starts
    assert limiter.admit("a").remain == 50
    assert limiter.windows_spent("a") == 1


def test_drain_and_real_errors_together_cap_at_the_budget() -> None:
    clock = FakeClock()
    limiter = ErrorLimiter(60, 10, clock)
    for _ in range(5):
        limiter.record("a", 404)
    limiter.spend("a", rate=2)
    clock.now += 1
    assert limiter.record("a", 503).remain == 10 - 5 - 2 - 1
    clock.now += 0.75
    assert limiter.admit("a").remain == 1
    assert limiter.record("a", 404).remain == 0 and limiter.admit("a").blocked
    clock.now += 10
    assert limiter.record("a", 500).remain == 0
    assert limiter.windows_spent("a") == 1


def test_spend_now_after_a_drain_and_a_drain_after_spending_now() -> None:
    clock = FakeClock()
    limiter = ErrorLimiter(60, 100, clock)
    limiter.spend("a", rate=1)
    clock.now += 3
    assert limiter.spend("a").remain == 0
    assert limiter.spend("a", rate=5).remain == 0
    clock.now += 30
    assert limiter.admit("a").remain == 0 and limiter.windows_spent("a") == 1


@pytest.mark.parametrize("rate", [0, -1, math.inf, math.nan])
def test_spend_refuses_a_rate_that_is_not_positive(rate: float) -> None:
    limiter = ErrorLimiter(60, 100, FakeClock())
    with pytest.raises(ValueError, match="positive"):
        limiter.spend("a", rate=rate)
    assert limiter.admit("a").remain == 100


@given(
    st.floats(0.1, 1e6),
    st.lists(st.tuples(st.floats(0, 8), st.sampled_from([200, 304, 404, 420, 500, None])), max_size=60),
)
def test_drain_matches_errors_plus_rate_times_elapsed_capped(
        rate: float, events: list[tuple[float, int | None]]) -> None:
    """remain = budget - own errors - floor(rate x elapsed), never below 0, in the drain's window only."""
    clock = FakeClock()
    limiter = ErrorLimiter(15, 30, clock)
    limiter.spend("ip", rate=rate)
    started, own, drained, spent = clock.now, 0, True, 0

    def by_drain(at: float) -> int:
        return math.floor(min((at - started) * rate, 30) + 1e-9) if drained else 0

    for step, status in events:
        clock.now += step
        if clock.now >= started + 15:
            spent += own + by_drain(started + 15) >= 30  # spent by its end, whether or not anyone saw it
            started, own, drained = clock.now, 0, False
        state = limiter.admit("ip") if status is None else limiter.record("ip", status)
        own += status is not None and status >= 400 and status != 420
        assert state.remain == max(0, 30 - own - by_drain(clock.now))
        assert state.blocked == (state.remain == 0)
    assert limiter.windows_spent("ip") == spent + (own + by_drain(clock.now) >= 30)


async def test_spend_at_a_rate_over_http(http: aiohttp.ClientSession) -> None:
    async with running_sim(alliances=5, error_window_s=2.0, error_budget=100) as sim:
        spent = await sim.control.spend_error_budget(rate=200)
        assert spent == {"ip": "127.0.0.1", "rate": 200, "remain": 100, "reset_s": 2}
        await asyncio.sleep(0.1)
        async with http.get(f"{sim.base_url}/alliances") as resp:
            assert resp.status == 200 and 0 < int(resp.headers["X-ESI-Error-Limit-Remain"]) < 100
        await asyncio.sleep(0.6)  # 200 errors a second spend 100 in 0.5 s
        async with http.get(f"{sim.base_url}/alliances") as resp:
            assert resp.status == 420 and resp.headers["X-ESI-Error-Limit-Remain"] == "0"
        assert sim.sim.errors.windows_spent("127.0.0.1") == 1
        await asyncio.sleep(1.4)
        async with http.get(f"{sim.base_url}/alliances") as resp:
            assert resp.status == 200 and resp.headers["X-ESI-Error-Limit-Remain"] == "100"


@pytest.mark.parametrize("body", ['{"rate": 0}', '{"rate": -2}', '{"rate": "fast"}', '{"rate": true}',
                                  '{"rate": Infinity}', '{"rate": NaN}', '{"rate": [5]}'])
async def test_spend_refuses_a_bad_rate_over_http(
        sim: RunningSim, http: aiohttp.ClientSession, body: str) -> None:
    async with http.post(f"{sim.base_url}/_sim/spend-error-budget", data=body) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "rate must be a positive number of errors per second"
    async with http.get(f"{sim.base_url}/alliances") as resp:
        assert resp.status == 200 and resp.headers["X-ESI-Error-Limit-Remain"] == "100"
