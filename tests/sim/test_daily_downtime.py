"""The simulator's daily downtime: down at 11:00 UTC on its own clock, up after the configured time
with a new start_time, VIP for a while if asked, never with 0; seen over HTTP as ESI shows it."""

from __future__ import annotations

import datetime as dt

import aiohttp
import pytest

from killreport.cli.sim_cmd import SimArgs
from killreport.sim.downtime import Downtime
from killreport.sim.options import SimOptions, parse_time_of_day, time_of_day
from killreport.sim.testing import running_sim
from tests.sim.conftest import CURRENT

ELEVEN = dt.datetime(2026, 12, 7, 11, 0, tzinfo=dt.UTC).timestamp()


class FakeClock:
    """Epoch seconds the test sets."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_down_at_eleven_and_up_after_the_configured_time_with_a_new_start_time() -> None:
    clock = FakeClock(ELEVEN - 120)
    downtime = Downtime(clock, daily_s=120.0)
    assert not downtime.active() and downtime.start_time == ELEVEN - 86400 + 120  # yesterday's
    clock.now = ELEVEN - 0.001
    assert not downtime.active()
    clock.now = ELEVEN
    assert downtime.active() and downtime.as_dict()["windows"] == 1
    clock.now = ELEVEN + 119.9
    assert downtime.active()
    clock.now = ELEVEN + 120
    assert not downtime.active() and not downtime.vip()
    assert downtime.status_body(1)["start_time"] == iso(ELEVEN + 120)
    clock.now = ELEVEN + 86400 - 1
    assert not downtime.active() and downtime.as_dict()["windows"] == 1
    clock.now = ELEVEN + 86400 + 1
    assert downtime.active() and downtime.as_dict()["windows"] == 2  # and again the next day


def test_a_simulator_started_inside_the_window_is_down_until_it_ends() -> None:
    clock = FakeClock(ELEVEN + 30)
    downtime = Downtime(clock, daily_s=120.0)
    assert downtime.active() and downtime.as_dict()["remaining_s"] == 90
    clock.now = ELEVEN + 121
    assert not downtime.active() and downtime.start_time == ELEVEN + 120


def test_zero_means_no_daily_downtime_and_the_start_time_never_moves() -> None:
    clock = FakeClock(ELEVEN - 60)
    downtime = Downtime(clock, daily_s=0.0)
    start = downtime.start_time
    for step in range(0, 2 * 86400, 600):
        clock.now = ELEVEN - 60 + step
        assert not downtime.active()
    assert downtime.start_time == start and downtime.as_dict()["windows"] == 0


def test_vip_for_the_configured_time_after_the_daily_downtime() -> None:
    clock = FakeClock(ELEVEN + 120)
    downtime = Downtime(clock, daily_s=120.0, daily_vip_s=60.0)
    assert not downtime.active() and downtime.vip()  # started in today's VIP time
    clock.now = ELEVEN + 180
    assert not downtime.vip()
    clock.now = ELEVEN + 86400 + 150
    body = downtime.status_body(1)
    assert body["vip"] is True and body["start_time"] == iso(ELEVEN + 86400 + 120)


def test_the_time_of_day_can_be_moved() -> None:
    at = parse_time_of_day("04:30:15")
    clock = FakeClock(ELEVEN)
    downtime = Downtime(clock, daily_s=10.0, daily_at_s=at)
    assert not downtime.active()
    clock.now = ELEVEN - 11 * 3600 + at + 86400  # the next day at 04:30:15
    assert downtime.active()
    assert time_of_day(at) == "04:30:15" and downtime.as_dict()["daily"]["at"] == "04:30:15"


def test_options_and_flags_refuse_what_cannot_be_a_daily_downtime() -> None:
    for bad in ("25:00", "11:60", "11", "11:00:61", "noon"):
        with pytest.raises(ValueError, match="time of day"):
            parse_time_of_day(bad)
    with pytest.raises(ValueError, match="daily_downtime_s"):
        SimOptions(daily_downtime_s=-1)
    with pytest.raises(ValueError, match="daily_downtime_s"):
        SimOptions(daily_vip_s=-1)
    with pytest.raises(ValueError, match="daily_downtime_at_s"):
        SimOptions(daily_downtime_at_s=86400)
    options = SimArgs(daily_downtime_s=30, daily_vip_s=5, daily_downtime_at="10:42").options()
    assert (options.daily_downtime_s, options.daily_vip_s, options.daily_downtime_at_s) == (30, 5, 38520)
    assert SimOptions().daily_downtime_s == 120 and SimOptions().daily_downtime_at_s == 39600


async def test_running_sim_has_no_daily_downtime_unless_asked() -> None:
    async with running_sim(alliances=3, clock=FakeClock(ELEVEN + 1)) as sim:
        assert not sim.sim.downtime.active() and sim.sim.options.daily_downtime_s == 0


async def test_over_http_game_routes_503_status_502_then_a_new_start_time() -> None:
    clock = FakeClock(ELEVEN - 1)
    async with running_sim(alliances=3, clock=clock, daily_downtime_s=120.0) as sim, \
            aiohttp.ClientSession(headers=CURRENT) as http:
        async with http.get(f"{sim.base_url}/status") as resp:
            assert resp.status == 200 and (await resp.json())["start_time"] == iso(ELEVEN - 86400 + 120)
            # Date is on the simulator's clock, like Expires: the two say how long /status is cached.
            assert resp.headers["Date"] == "Mon, 07 Dec 2026 10:59:59 GMT"
        clock.now = ELEVEN + 1
        async with http.get(f"{sim.base_url}/alliances") as resp:
            assert resp.status == 503
            assert (await resp.json())["error"] == "The datasource tranquility is temporarily unavailable"
        async with http.get(f"{sim.base_url}/status") as resp:
            assert resp.status == 502
        clock.now = ELEVEN + 121
        async with http.get(f"{sim.base_url}/status") as resp:
            status = await resp.json()
        assert resp.status == 200 and status["start_time"] == iso(ELEVEN + 120) and status["vip"] is False
        stats = await sim.control.stats()
        assert stats["during_downtime"] == {"GET /alliances": 1, "GET /status": 1}
        assert (await sim.control.faults())["downtime"]["windows"] == 1
