"""The R2Z2 feed under `/r2z2` on its own port: the lagging pointer, packages, retention, stale 404s,
republication, the timed generator, day files once the day is over, and its etiquette."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import pytest

from killreport.cli.sim_cmd import SimArgs
from killreport.sim.feed import FIRST_SEQUENCE, day_of
from killreport.sim.options import SimOptions
from killreport.sim.testing import running_sim
from tests.sim.test_daily_downtime import FakeClock

UA = {"User-Agent": "killreport-tests/0.1 (tests@example.com)"}
NOON = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC).timestamp()
HALF_PAST_MIDNIGHT = dt.datetime(2026, 12, 7, 0, 30, tzinfo=dt.UTC).timestamp()


async def get(http: aiohttp.ClientSession, url: str, headers: dict[str, str] = UA) -> tuple[int, Any]:
    """Status and decoded JSON of a GET."""
    async with http.get(url, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_sequence_lags_and_packages_appear_in_order(http: aiohttp.ClientSession) -> None:
    async with running_sim(alliances=5, clock=FakeClock(NOON)) as sim:
        feed = f"{sim.r2z2_url}/ephemeral"
        assert await get(http, f"{feed}/sequence.json") == (200, {"sequence": FIRST_SEQUENCE})
        assert (await get(http, f"{feed}/{FIRST_SEQUENCE}.json"))[0] == 404
        kills = await sim.control.publish_kills(60)
        assert await get(http, f"{feed}/sequence.json") == (200, {"sequence": FIRST_SEQUENCE + 50})
        status, body = await get(http, f"{feed}/{FIRST_SEQUENCE + 59}.json")
        assert status == 200 and body == kills[-1] and body["uploaded_at"] == NOON
        assert set(body) == {"killmail_id", "hash", "esi", "zkb", "uploaded_at", "sequence_id"}
        assert (await get(http, f"{feed}/{FIRST_SEQUENCE + 60}.json"))[0] == 404
        assert (await get(http, f"{sim.r2z2_url}/nothing.json"))[0] == 404


async def test_files_expire_after_the_retention_time(http: aiohttp.ClientSession) -> None:
    clock = FakeClock(NOON)
    async with running_sim(alliances=5, clock=clock, r2z2_retention_s=3600) as sim:
        await sim.control.publish_kills(1)
        url = f"{sim.r2z2_url}/ephemeral/{FIRST_SEQUENCE}.json"
        clock.now += 3599
        assert (await get(http, url))[0] == 200
        clock.now += 1
        assert (await get(http, url))[0] == 404
        assert len((await sim.control.kills())["kills"]) == 1  # the truth keeps it


async def test_stale_files_answer_404_for_a_while(http: aiohttp.ClientSession) -> None:
    clock = FakeClock(NOON)
    async with running_sim(alliances=5, clock=clock, r2z2_stale_share=1.0, r2z2_stale_s=10) as sim:
        await sim.control.publish_kills(1)
        url = f"{sim.r2z2_url}/ephemeral/{FIRST_SEQUENCE}.json"
        clock.now += 9
        assert (await get(http, url))[0] == 404
        clock.now += 1
        assert (await get(http, url))[0] == 200


async def test_republication_overwrites_the_old_file_and_the_new_one_names_it(
        http: aiohttp.ClientSession) -> None:
    clock = FakeClock(NOON)
    async with running_sim(alliances=5, clock=clock, kill_republish_share=1.0) as sim:
        first = (await sim.control.publish_kills(1))[0]
        clock.now += 5
        second = (await sim.control.publish_kills(1))[0]
        assert "sequence_updated" not in first and second["sequence_updated"] == first["sequence_id"]
        status, again = await get(http, f"{sim.r2z2_url}/ephemeral/{first['sequence_id']}.json")
        assert status == 200 and again["uploaded_at"] == NOON + 5 and again["esi"] == first["esi"]
        assert again["zkb"]["labels"] != first["zkb"]["labels"]
        zkb = again["zkb"]
        assert zkb["totalValue"] == round(zkb["droppedValue"] + first["zkb"]["destroyedValue"], 2)


async def test_the_timed_generator_follows_the_clock_in_bursts(http: aiohttp.ClientSession) -> None:
    clock = FakeClock(NOON)
    async with running_sim(alliances=5, clock=clock, kill_rate=2.0, kill_burst=3) as sim:
        clock.now += 1.4
        assert (await sim.control.kills())["head"] == FIRST_SEQUENCE - 1
        clock.now += 0.1
        assert (await get(http, f"{sim.r2z2_url}/ephemeral/{FIRST_SEQUENCE + 2}.json"))[0] == 200
        clock.now += 10
        kills = (await sim.control.kills())["kills"]
        assert len(kills) == 21 and [k["uploaded_at"] for k in kills[:6]] == [NOON + 1] * 3 + [NOON + 3] * 3


async def test_day_files_appear_once_the_day_is_over(http: aiohttp.ClientSession) -> None:
    clock = FakeClock(HALF_PAST_MIDNIGHT)
    async with running_sim(alliances=5, clock=clock) as sim:
        late = await sim.control.publish_kills(20, late=True)
        fresh = await sim.control.publish_kills(5, late=False)
        today = day_of(clock.now)
        days = {day_of(dt.datetime.fromisoformat(k["esi"]["killmail_time"]).timestamp()) for k in late}
        assert today not in days and late[0]["uploaded_at"] - _ts(late[0]) >= 3600
        totals = (await get(http, f"{sim.r2z2_url}/history/totals.json"))[1]
        assert totals == {d: sum(1 for k in late if day_of(_ts(k)) == d) for d in sorted(days)}
        day = sorted(days)[0]
        hashes = (await get(http, f"{sim.r2z2_url}/history/{day}.json"))[1]
        raw = (await get(http, f"{sim.r2z2_url}/history/raw/{day}.json"))[1]
        mine = [k for k in late if day_of(_ts(k)) == day]
        assert hashes == {str(k["killmail_id"]): k["hash"] for k in mine}
        assert raw == {str(k["killmail_id"]): k["esi"] for k in mine}
        assert (await get(http, f"{sim.r2z2_url}/history/{today}.json"))[0] == 404
        clock.now += 86400
        assert len((await get(http, f"{sim.r2z2_url}/history/{today}.json"))[1]) == len(fresh)
    async with running_sim(alliances=5, clock=FakeClock(NOON), r2z2_today=True) as sim:
        await sim.control.publish_kills(3, late=False)
        assert (await get(http, f"{sim.r2z2_url}/history/totals.json"))[1] == {day_of(NOON): 3}


def _ts(kill: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(kill["esi"]["killmail_time"]).timestamp()


async def test_a_blank_user_agent_is_refused_and_a_fast_client_gets_429() -> None:
    async with running_sim(alliances=5, r2z2_per_s=3) as sim, \
            aiohttp.ClientSession(skip_auto_headers=["User-Agent"]) as bare:
        url = f"{sim.r2z2_url}/ephemeral/sequence.json"
        assert (await get(bare, url, {}))[0] == 403
        assert (await get(bare, url, {"User-Agent": "  "}))[0] == 403
        statuses, retry = [], None
        for _ in range(5):
            async with bare.get(url, headers=UA) as resp:
                statuses.append(resp.status)
                retry = resp.headers.get("Retry-After", retry)
        assert statuses == [200, 200, 200, 429, 429] and retry == "1"
        counted = (await sim.control.stats())["r2z2"]
        assert counted["requests"] == 7 and counted["by_status"] == {"403": 2, "200": 3, "429": 2}
        assert counted["max_per_s"] == 7  # every arrival counts, refused ones too


async def test_the_stats_count_the_busiest_second_and_numbers_asked_again_soon_after_their_404(
        http: aiohttp.ClientSession) -> None:
    clock = FakeClock(NOON)
    async with running_sim(alliances=5, clock=clock, r2z2_per_s=100) as sim:
        await sim.control.publish_kills(1)
        feed = f"{sim.r2z2_url}/ephemeral"
        for offset in (0.0, 0.5, 0.99, 1.2, 1.3):  # four within one second, at most
            clock.now = NOON + offset
            await get(http, f"{feed}/sequence.json")
        clock.now = NOON + 10
        assert (await get(http, f"{feed}/{FIRST_SEQUENCE + 1}.json"))[0] == 404
        clock.now += 5.5
        await get(http, f"{feed}/{FIRST_SEQUENCE + 1}.json")  # too soon: counted
        clock.now += 7
        await get(http, f"{feed}/{FIRST_SEQUENCE + 1}.json")  # 7 s after the second 404: fine
        await get(http, f"{feed}/{FIRST_SEQUENCE}.json")  # never answered 404: not counted
        counted = (await sim.control.stats())["r2z2"]
        assert counted["max_per_s"] == 4 and counted["requests"] == 9
        assert counted["asked_again_after_404"] == {"within_6s": 1, "min_gap_s": 5.5}
        await sim.control.reset_stats()
        assert (await sim.control.stats())["r2z2"] == {
            "requests": 0, "by_status": {}, "max_per_s": 0,
            "asked_again_after_404": {"within_6s": 0, "min_gap_s": None}}


def test_flags_carry_the_feed_options_and_the_port_follows_esi_s() -> None:
    args = SimArgs(port=9000, kill_rate=1.5, kill_burst=4, kill_late_share=0.5, kill_republish_share=0.1,
                   r2z2_stale_share=0.2, r2z2_stale_s=3, r2z2_retention_s=60, r2z2_sequence_every=7,
                   r2z2_per_s=9, r2z2_today=True)
    options = args.options()
    assert (options.kill_rate, options.kill_burst, options.kill_late_share, options.kill_republish_share,
            options.r2z2_stale_share, options.r2z2_stale_s, options.r2z2_retention_s,
            options.r2z2_sequence_every, options.r2z2_per_s, options.r2z2_today) == (
        1.5, 4, 0.5, 0.1, 0.2, 3, 60, 7, 9, True)
    assert args.feed_port == 9001 and SimArgs(port=0).feed_port == 0
    assert SimArgs(port=9000, r2z2_port=0).feed_port == 0
    for bad in ({"kill_rate": -1}, {"kill_burst": 0}, {"kill_late_share": 1.5}, {"r2z2_retention_s": 0},
                {"r2z2_sequence_every": 0}, {"r2z2_stale_share": -0.1}):
        with pytest.raises(ValueError):
            SimOptions(**bad)
