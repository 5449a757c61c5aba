"""`GET /_sim/truth?ever=1`: every entity any truth listed, with the body ESI serves for it now."""

from __future__ import annotations

import aiohttp

from killreport.sim.testing import RunningSim
from tests.sim.conftest import CURRENT

SECTIONS = ("alliances", "alliance_corporations", "corporations", "characters", "deleted_characters")


async def _served(http: aiohttp.ClientSession, url: str) -> tuple[int, object]:
    async with http.get(url, headers=CURRENT) as resp:
        return resp.status, await resp.json()


async def test_before_any_change_ever_is_the_truth(sim: RunningSim) -> None:
    truth = await sim.control.truth(ever=True)
    assert {section: truth["ever"][section] for section in SECTIONS} == {s: truth[s] for s in SECTIONS}
    assert "ever" not in await sim.control.truth()
    plain = await sim.control.truth()
    assert plain == {k: v for k, v in truth.items() if k != "ever"}


async def test_retired_entities_stay_with_their_current_bodies(sim: RunningSim,
                                                               http: aiohttp.ClientSession) -> None:
    before = await sim.control.truth()
    changes = []
    for kind in ("disband_alliance", "close_corporation", "biomass_character", "hop", "found_alliance",
                 "move_character", "executor"):
        changes += (await sim.control.mutate(1, [kind]))["changes"]
    after = await sim.control.truth(ever=True)
    ever = after["ever"]
    for section in ("alliances", "corporations", "characters"):
        listed = set(before[section]) | set(after[section])
        if section == "characters":
            assert set(ever[section]) | {str(c) for c in ever["deleted_characters"]} >= listed
        else:
            assert set(ever[section]) == listed, section
    assert len(changes) == 7, "every kind found something to change"
    closed = [c for c in changes if c["change"] == "disband_alliance"]
    alliance = str(closed[0]["alliance_id"])
    assert alliance not in after["alliances"] and ever["alliance_corporations"][alliance] == []
    assert "executor_corporation_id" not in ever["alliances"][alliance]
    [shut] = [str(c["corporation_id"]) for c in changes if c["change"] == "close_corporation"]
    assert ever["corporations"][shut]["state"] == "closed" and "alliance_id" not in ever["corporations"][shut]
    [deleted] = [c["character_id"] for c in changes if c["change"] == "biomass_character"]
    assert deleted in ever["deleted_characters"] and str(deleted) not in ever["characters"]
    base = sim.base_url
    for alliance_id, body in ever["alliances"].items():
        assert await _served(http, f"{base}/alliances/{alliance_id}") == (200, body)
        members = ever["alliance_corporations"][alliance_id]
        assert await _served(http, f"{base}/alliances/{alliance_id}/corporations") == (200, members)
    for corp_id, body in ever["corporations"].items():
        assert await _served(http, f"{base}/corporations/{corp_id}") == (200, body)
    for char_id, body in ever["characters"].items():
        assert await _served(http, f"{base}/characters/{char_id}") == (200, body)
    for char_id in ever["deleted_characters"]:
        assert (await _served(http, f"{base}/characters/{char_id}"))[0] == 404


async def test_a_bad_ever_flag_is_refused(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{sim.base_url}/_sim/truth?ever=maybe") as resp:
        assert resp.status == 400
