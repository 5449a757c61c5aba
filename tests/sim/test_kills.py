"""Kills the simulator publishes: deterministic per seed, drawn from everyone with the affiliations they hold
at that moment, shaped like ESI's killmails; the kill truth stays apart from the cascade's truth."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import pytest

from killreport.sim.kills import STRUCTURES
from killreport.sim.roster import ROSTER_BASE
from killreport.sim.testing import RunningSim, running_sim
from tests.sim.conftest import CURRENT
from tests.sim.test_daily_downtime import FakeClock

NOON = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC).timestamp()


def participants(kill: dict[str, Any]) -> list[dict[str, Any]]:
    """The victim and every attacker of a package."""
    return [kill["esi"]["victim"], *kill["esi"]["attackers"]]


async def test_the_same_seed_and_clock_publish_the_same_kills() -> None:
    bodies = []
    for _ in range(2):
        async with running_sim(alliances=10, seed=5, clock=FakeClock(NOON), kill_republish_share=0.2) as sim:
            await sim.control.publish_kills(30)
            bodies.append((await sim.control.kills())["kills"])
    assert bodies[0] == bodies[1] and len(bodies[0]) == 30
    async with running_sim(alliances=10, seed=6, clock=FakeClock(NOON)) as other:
        assert (await other.control.publish_kills(30)) != bodies[0]


async def test_kills_are_shaped_like_killmails_and_drawn_from_everyone() -> None:
    async with running_sim(alliances=20, clock=FakeClock(NOON)) as sim:
        kills = await sim.control.publish_kills(400)
        uni, roster = sim.sim.universe, sim.sim.roster
    for kill in kills:
        esi, victim = kill["esi"], kill["esi"]["victim"]
        assert kill["hash"] == kill["zkb"]["hash"] and len(kill["hash"]) == 40
        assert sum(a["final_blow"] for a in esi["attackers"]) == 1
        assert victim["damage_taken"] == sum(a["damage_done"] for a in esi["attackers"])
        assert ("character_id" in victim) != (victim["ship_type_id"] in STRUCTURES)
        for npc in (a for a in esi["attackers"] if "character_id" not in a):
            assert "corporation_id" in npc or "faction_id" in npc
            assert "corporation_id" not in npc or uni.corporations[npc["corporation_id"]].npc
            assert npc.get("faction_id", 0) in {0, *uni.factions}
    people = [p for k in kills for p in participants(k) if "character_id" in p]
    corps = {p["corporation_id"] for p in people}
    assert any(p["character_id"] >= ROSTER_BASE for p in people), "ordinary pilots"
    assert any(p["character_id"] < ROSTER_BASE for p in people), "CEOs and creators"
    assert any(uni.corporations[c].npc for c in corps), "pilots in NPC corporations"
    assert any(not uni.corporations[c].npc and uni.corporations[c].alliance_id is None for c in corps)
    deleted = [p for p in people if p["character_id"] >= ROSTER_BASE
               and roster.is_deleted(p["character_id"] - ROSTER_BASE)]
    assert deleted, "deleted pilots"
    assert any("character_id" not in a for k in kills for a in k["esi"]["attackers"]), "NPC attackers"
    assert any(k["esi"]["victim"]["ship_type_id"] in STRUCTURES for k in kills), "structure victims"


async def test_later_kills_show_a_corporation_s_new_alliance() -> None:
    async with running_sim(alliances=4, clock=FakeClock(NOON)) as sim:
        uni = sim.sim.universe
        before = await sim.control.publish_kills(300)
        log = await sim.control.mutate(3, ["hop"])
        moved = set(log["corporations"])
        after = await sim.control.publish_kills(300)
        for kill in after:
            for p in participants(kill):
                if p.get("corporation_id") in uni.corporations:
                    assert p.get("alliance_id") == uni.corporations[p["corporation_id"]].alliance_id
    old = {p["corporation_id"]: p.get("alliance_id") for k in before for p in participants(k)
           if p.get("corporation_id") in moved}
    new = {p["corporation_id"]: p.get("alliance_id") for k in after for p in participants(k)
           if p.get("corporation_id") in old}
    assert new and all(new[c] != old[c] for c in new)


async def test_ordinary_pilots_answer_on_esi_but_stay_out_of_the_cascade_truth(
        http: aiohttp.ClientSession) -> None:
    async with running_sim(alliances=10) as sim:
        truth = await sim.control.truth()
        kills = await sim.control.publish_kills(50)
        assert await sim.control.truth() == truth
        pilot = next(p["character_id"] for k in kills for p in participants(k)
                     if p.get("character_id", 0) >= ROSTER_BASE
                     and not sim.sim.roster.is_deleted(p["character_id"] - ROSTER_BASE))
        assert str(pilot) not in truth["characters"]
        async with http.get(f"{sim.base_url}/characters/{pilot}", headers=CURRENT) as resp:
            assert resp.status == 200
            body = await resp.json()
        async with http.post(f"{sim.base_url}/characters/affiliation", json=[pilot]) as resp:
            assert (await resp.json())[0]["corporation_id"] == body["corporation_id"]
        async with http.post(f"{sim.base_url}/universe/names", json=[pilot]) as resp:
            assert (await resp.json())[0]["name"] == body["name"]


async def test_killmail_route_answers_immutably_with_the_killmail_bucket(http: aiohttp.ClientSession) -> None:
    clock = FakeClock(NOON)
    async with running_sim(alliances=5, clock=clock) as sim:
        kill = (await sim.control.publish_kills(1))[0]
        url = f"{sim.base_url}/killmails/{kill['killmail_id']}/{kill['hash']}/"
        async with http.get(url, headers=CURRENT) as resp:
            assert resp.status == 200 and await resp.json() == kill["esi"]
            expires = dt.datetime.strptime(resp.headers["Expires"], "%a, %d %b %Y %H:%M:%S GMT")
            assert expires.replace(tzinfo=dt.UTC).timestamp() == NOON + 30 * 86400
            assert resp.headers["X-Ratelimit-Group"] == "killmail"
            assert resp.headers["X-Ratelimit-Limit"] == "3600/15m" and resp.headers["X-Ratelimit-Used"] == "2"
            assert "X-ESI-Error-Limit-Remain" not in resp.headers
        for wrong in (f"{kill['killmail_id']}/{'0' * 40}", f"{kill['killmail_id'] + 1}/{kill['hash']}"):
            async with http.get(f"{sim.base_url}/killmails/{wrong}/", headers=CURRENT) as resp:
                assert resp.status == 422
                assert (await resp.json())["error"] == "Invalid killmail_id and/or killmail_hash"


async def test_an_empty_killmail_bucket_answers_429(http: aiohttp.ClientSession) -> None:
    async with running_sim(alliances=5, buckets=("km:/killmails/{id}/{hash}=4/15m",)) as sim:
        kill = (await sim.control.publish_kills(1))[0]
        url = f"{sim.base_url}/killmails/{kill['killmail_id']}/{kill['hash']}/"
        statuses = []
        for _ in range(3):
            async with http.get(url, headers=CURRENT) as resp:
                statuses.append(resp.status)
                retry = resp.headers.get("Retry-After")
        assert statuses == [200, 200, 429] and retry is not None and int(retry) > 0


async def test_control_refuses_bad_calls(sim: RunningSim) -> None:
    for body in ({"count": 0}, {"count": True}, {"count": 2, "late": "yes"}, {}):
        with pytest.raises(ValueError, match="400"):
            await sim.control._call("POST", "/kills", body)
    with pytest.raises(ValueError, match="400"):
        await sim.control._call("GET", "/kills?since=x")
    first = (await sim.control.publish_kills(3))[0]["sequence_id"]
    assert [k["sequence_id"] for k in (await sim.control.kills(since=first + 1))["kills"]] == [
        first + 1, first + 2]


async def test_characters_a_mutation_creates_take_part_in_later_kills() -> None:
    async with running_sim(alliances=3, clock=FakeClock(NOON)) as sim:
        await sim.control.publish_kills(1)  # the pool is listed before the mutation
        before = set(sim.sim.universe.characters)
        log = await sim.control.mutate(40, ["ceo"])
        born = set(log["characters"]) - before
        seen = {p.get("character_id") for k in await sim.control.publish_kills(600) for p in participants(k)}
    assert born and born & seen
