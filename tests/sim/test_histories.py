"""The history routes over HTTP: consistent with every change the simulator made (each move one record,
dated by its clock, numbered after every earlier one), served as its truth says, cached like the other
routes, with the quirks (no alliance, is_deleted, no move to Doomheim) and the hidden limit, on and off."""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from killreport.cli.sim_cmd import SimArgs
from killreport.sim.cache import http_date
from killreport.sim.model import Universe, iso
from killreport.sim.mutate import KINDS
from killreport.sim.options import SimOptions
from killreport.sim.roster import ROSTER_BASE
from killreport.sim.testing import RunningSim, running_sim
from tests.sim.conftest import CURRENT

Rows = list[tuple[int, int, int | None]]


class Clock:
    """The simulator's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def world(clock: Clock) -> AsyncIterator[RunningSim]:
    async with running_sim(clock, alliances=12, error_budget=1_000_000, cache_scale=0.01) as running:
        yield running


def _path(kind: str, eid: int) -> str:
    return f"/characters/{eid}/corporationhistory" if kind == "character" else \
        f"/corporations/{eid}/alliancehistory"


async def _get(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, Any, Any]:
    async with http.get(url, headers={**CURRENT, **headers}) as resp:
        body = await resp.json() if resp.status != 304 else None
        return resp.status, body, resp.headers


def _histories(uni: Universe) -> dict[tuple[str, int], Rows]:
    out = {("corporation", c.id): list(c.alliance_history) for c in uni.corporations.values() if not c.npc}
    out |= {("character", c.id): list(c.corp_history) for c in uni.characters.values() if not c.npc}
    return out


def _current(uni: Universe, kind: str, eid: int) -> int | None:
    return uni.corporations[eid].alliance_id if kind == "corporation" else uni.characters[eid].corporation_id


async def _served_as_the_truth(world: RunningSim, http: aiohttp.ClientSession, keys: list[tuple[str, int]]
                               ) -> None:
    """Each history answers as the control API's truth says (a deleted character's: 404, truth kept)."""
    uni = world.sim.universe
    for kind, eid in keys:
        truth = await world.control.history(kind, eid)
        status, body, _ = await _get(http, world.base_url + _path(kind, eid))
        if kind == "character" and eid in uni.characters and uni.characters[eid].deleted:
            assert status == 404 and body["error"] == "Character has been deleted!"
        else:
            assert (status, body) == (200, truth), (kind, eid)
        ids = [row["record_id"] for row in truth]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)  # newest first


async def test_every_kind_of_change_appends_one_record_per_move(
        world: RunningSim, clock: Clock, http: aiohttp.ClientSession) -> None:
    uni = world.sim.universe
    for round_ in range(2):
        for kind in KINDS:
            clock.now += 100
            before = copy.deepcopy(_histories(uni))
            highest = max(r[0] for rows in before.values() for r in rows)
            change = (await world.control.mutate(1, [kind]))["changes"][0]
            after = _histories(uni)
            grown = []
            for key, rows in after.items():
                old = before.get(key, [])
                assert rows[:len(old)] == old, (kind, key)  # the past never changes
                new = rows[len(old):]
                assert all(r[1] == int(clock.now) for r in new)  # dated by the simulator's clock
                assert [r[0] for r in new] == sorted(r[0] for r in new) and all(r[0] > highest for r in new)
                if new:
                    grown.append(key)
                    founder = kind == "found_alliance" and key == ("corporation", change["corporation_id"])
                    assert len(new) == (2 if founder else 1), (kind, key)  # one record per move
                    entity = uni.characters.get(key[1]) if key[0] == "character" else None
                    if entity is None or not entity.deleted:
                        assert rows[-1][2] == _current(uni, *key)  # the newest record is where it is now
            _expect(kind, change, before, after, grown, uni)
            if round_ == 1:
                subject = [("character", change["character_id"])] if "character_id" in change else []
                await _served_as_the_truth(world, http, [*grown, *subject])
    await _served_as_the_truth(world, http, sorted(_histories(uni)))


def _expect(kind: str, change: dict[str, Any], before: dict[Any, Rows], after: dict[Any, Rows],
            grown: list[tuple[str, int]], uni: Universe) -> None:
    """What each kind of change does to histories, beyond the generic checks."""
    if kind in ("members", "rename", "executor"):
        assert grown == []
    elif kind == "hop":
        assert grown == [("corporation", change["corporation_id"])]
    elif kind == "ceo":
        assert len(grown) == 1 and len(after[grown[0]]) == 1  # a character born now, into its corporation
    elif kind == "move_character":
        key = ("character", change["character_id"])
        assert grown == [key] and after[key][-1][2] == change["corporation_id"]
    elif kind == "biomass_character":
        key = ("character", change["character_id"])
        assert grown == [] and after[key] == before[key]  # no record for the move to Doomheim
        assert uni.characters[key[1]].corporation_id in uni.starter_corporations
    elif kind == "found_alliance":
        founder = after[("corporation", change["corporation_id"])]
        # Founded and in its alliance the same second: two records, the record id orders them.
        assert [r[2] for r in founder] == [None, change["alliance_id"]] and founder[0][1] == founder[1][1]
    elif kind == "disband_alliance":
        assert all(after[key][-1][2] is None for key in grown if key[0] == "corporation")
    elif kind == "close_corporation":
        corp_id = change["corporation_id"]
        moved = [key for key in grown if key[0] == "character"]
        assert all(after[key][-2][2] == corp_id and after[key][-1][2] in uni.starter_corporations
                   for key in moved)


async def test_the_quirks_over_http(world: RunningSim, clock: Clock, http: aiohttp.ClientSession) -> None:
    uni = world.sim.universe
    clock.now += 10
    disbanded = (await world.control.mutate(1, ["disband_alliance"]))["changes"][0]["alliance_id"]
    members = 0
    for corp in uni.corporations.values():
        if any(r[2] == disbanded for r in corp.alliance_history):  # members, and members once
            body = (await _get(http, world.base_url + _path("corporation", corp.id)))[1]
            assert all(r.get("is_deleted") is True for r in body if r.get("alliance_id") == disbanded)
            assert body[-1] == {"record_id": corp.alliance_history[0][0], "start_date": corp.date_founded}
            if body[1].get("alliance_id") == disbanded and body[0]["start_date"] == iso(int(clock.now)):
                members += 1
                assert set(body[0]) == {"record_id", "start_date"}  # outside any alliance now
    assert members
    deleted = next(c for c in uni.characters.values() if c.deleted and not c.npc)
    truth = await world.control.history("character", deleted.id)  # the truth, although the route says 404
    assert [r["record_id"] for r in truth] == [r[0] for r in reversed(deleted.corp_history)]
    assert (await _get(http, world.base_url + _path("character", deleted.id)))[0] == 404
    # An ordinary pilot of the closed corporation moved back to its starter corporation, and its cached
    # answers were re-rendered (its corporation's closing is its one change).
    pilots = world.sim.roster
    for _ in range(10):  # until a closed corporation had ordinary pilots (most have)
        closed = (await world.control.mutate(1, ["close_corporation"]))["changes"][0]["corporation_id"]
        k = next((k for k in range(pilots.size)
                  if pilots.home(k) == closed and not pilots.is_deleted(k)), None)
        if k is not None:
            break
    assert k is not None
    body = (await _get(http, world.base_url + _path("character", ROSTER_BASE + k)))[1]
    assert body == await world.control.history("character", ROSTER_BASE + k)
    assert body[0]["start_date"] == iso(int(clock.now)) and body[1]["corporation_id"] == closed
    assert body[1]["is_deleted"] is True and body[0]["corporation_id"] == pilots.corporation_of(k)
    assert body[0]["record_id"] > body[1]["record_id"]
    character = (await _get(http, f"{world.base_url}/characters/{ROSTER_BASE + k}"))[1]
    assert character["corporation_id"] == pilots.corporation_of(k)


async def test_cached_like_the_other_routes(world: RunningSim, clock: Clock, http: aiohttp.ClientSession
                                            ) -> None:
    uni = world.sim.universe
    corp = next(c for c in uni.corporations.values() if c.alliance_id)
    char = next(c for c in uni.characters.values() if not c.npc and not c.deleted)
    for kind, eid, ttl in (("corporation", corp.id, 36), ("character", char.id, 864)):
        status, _, headers = await _get(http, world.base_url + _path(kind, eid))
        assert status == 200 and headers["Expires"] == http_date(clock.now + ttl)  # 3600 s, 86400 s x 0.01
        assert headers["Cache-Control"] == "public" and headers["ETag"].startswith('"')
        again = await _get(http, world.base_url + _path(kind, eid), **{"If-None-Match": headers["ETag"]})
        assert again[0] == 304
    chars = [c.id for c in uni.characters.values() if not c.npc and not c.deleted]
    etags = {c: (await _get(http, world.base_url + _path("character", c)))[2]["ETag"] for c in chars}
    clock.now += 5
    moved = (await world.control.mutate(1, ["move_character"]))["changes"][0]["character_id"]
    for char_id, etag in etags.items():  # re-rendered at once where it changed, and only there
        got = await _get(http, world.base_url + _path("character", char_id), **{"If-None-Match": etag})
        assert got[0] == (200 if char_id == moved else 304)
        if char_id == moved:
            assert got[2]["Expires"] == http_date(clock.now + 864) and got[1][0]["start_date"] == iso(
                int(clock.now))


async def test_the_hidden_limit_is_off_by_default(http: aiohttp.ClientSession) -> None:
    async with running_sim(alliances=5, error_budget=1_000) as sim:
        uni = sim.sim.universe
        paths = [_path("corporation", c) for c in uni.corporations] * 5
        paths += [_path("character", c.id) for c in uni.characters.values() if not c.npc and not c.deleted]
        assert len(paths) > 300
        statuses = {(await _get(http, sim.base_url + p))[0] for p in paths}
        assert statuses == {200}
        stats = await sim.control.stats()
        assert stats["hidden_limit"] == {"total": 0, "by_route": {}}
        assert (await sim.control.faults())["history_per_min"] == 0


async def test_the_hidden_limit_answers_429_without_any_header(clock: Clock, http: aiohttp.ClientSession
                                                               ) -> None:
    async with running_sim(clock, alliances=5, history_per_min=3) as sim:
        uni = sim.sim.universe
        corp = next(iter(uni.corporations))
        char = next(c.id for c in uni.characters.values() if not c.npc and not c.deleted)
        first = [(await _get(http, sim.base_url + p))[0] for p in
                 (_path("corporation", corp), _path("character", char), _path("corporation", corp))]
        assert first == [200, 200, 200]  # both routes share the one limit
        remain = int((await _get(http, f"{sim.base_url}/alliances"))[2]["X-ESI-Error-Limit-Remain"])
        status, body, headers = await _get(http, sim.base_url + _path("character", char))
        assert status == 429 and body["error"]
        assert not [h for h in headers if h.lower().startswith(("x-esi-error", "x-ratelimit", "retry-after"))]
        assert "Expires" not in headers and "ETag" not in headers
        after = await _get(http, f"{sim.base_url}/alliances")  # other routes are not limited, and the
        assert after[0] == 200 and int(after[2]["X-ESI-Error-Limit-Remain"]) == remain - 1  # 429 an error
        stats = await sim.control.stats()
        assert stats["hidden_limit"] == {"total": 1, "by_route": {
            "GET /characters/{character_id}/corporationhistory": 1}}
        assert stats["limit_violations"]["429"] == 1
        assert stats["by_route"]["GET /characters/{character_id}/corporationhistory"] == {"200": 1, "429": 1}
        clock.now += 61  # a rolling minute later
        assert (await _get(http, sim.base_url + _path("corporation", corp)))[0] == 200
        await sim.control.set_faults(history_per_min=0)  # off at run time
        assert {(await _get(http, sim.base_url + _path("corporation", corp)))[0] for _ in range(10)} == {200}
        for bad in (-1, 1.5, True, "3"):
            with pytest.raises(ValueError, match="history_per_min"):
                await sim.control.set_faults(history_per_min=bad)


async def test_the_truth_of_histories_from_the_control_api(world: RunningSim, http: aiohttp.ClientSession
                                                           ) -> None:
    uni = world.sim.universe
    everything = await world.control.histories()
    truth = await world.control.truth()
    assert set(everything["corporations"]) == set(truth["corporations"])
    assert set(everything["characters"]) == set(truth["characters"]) | {str(c) for c in truth[
        "deleted_characters"]}
    for eid, rows in list(everything["characters"].items())[:20]:
        assert rows == await world.control.history("character", int(eid))
    for path, status in (("/history/characters/1", 404), ("/history/corporations/5", 404),
                         ("/history/alliances/99000001", 400), ("/history/characters/x", 400)):
        async with http.get(f"{world.base_url}/_sim{path}") as resp:
            assert resp.status == status and "error" in await resp.json()
    npc = next(c.id for c in uni.characters.values() if c.npc)
    async with http.get(f"{world.base_url}/_sim/history/characters/{npc}") as resp:
        assert resp.status == 404


def test_the_option_and_its_flag() -> None:
    assert SimOptions().history_per_min == 0
    assert SimArgs(history_per_min=60).options().history_per_min == 60
    for bad in (-1, True):
        with pytest.raises(ValueError, match="history_per_min"):
            SimOptions(history_per_min=bad)
