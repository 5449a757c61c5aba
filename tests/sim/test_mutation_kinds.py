"""Every kind of change the game makes: it happens; GETs, `GET /alliances`, affiliation and the truth agree
afterwards; exactly the resources whose answers changed get new ETags; the log's field rows are the
differences between the truth before and after."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiohttp
import pytest

from killreport.sim.mutate import KINDS
from killreport.sim.testing import RunningSim, running_sim
from tests.sim.conftest import CURRENT

Answer = tuple[int, Any, str | None]
Row = tuple[str, int, str, str, str]
ENTITIES = (("alliances", "alliance"), ("corporations", "corporation"), ("characters", "character"))


@pytest.fixture
async def world() -> AsyncIterator[RunningSim]:
    """A small universe where a test may send every request twice without meeting a limit."""
    async with running_sim(alliances=12, error_budget=1_000_000) as running:
        yield running


async def _get(http: aiohttp.ClientSession, url: str) -> Answer:
    async with http.get(url, headers=CURRENT) as resp:
        return resp.status, await resp.json(), resp.headers.get("ETag")


async def _get_all(sim: RunningSim, http: aiohttp.ClientSession, paths: Iterable[str]) -> dict[str, Answer]:
    gate = asyncio.Semaphore(16)

    async def one(path: str) -> tuple[str, Answer]:
        async with gate:
            return path, await _get(http, sim.base_url + path)

    return dict(await asyncio.gather(*(one(p) for p in paths)))


def _paths(sim: RunningSim) -> list[str]:
    """Every GET path of every entity that answers 200 now."""
    uni = sim.sim.universe
    out = ["/alliances"]
    for a in uni.alliances:
        out += [f"/alliances/{a}", f"/alliances/{a}/corporations"]
    for c in uni.corporations:
        out += [f"/corporations/{c}", f"/corporations/{c}/alliancehistory"]
    for ch in uni.characters.values():
        if not ch.npc and not ch.deleted:
            out += [f"/characters/{ch.id}", f"/characters/{ch.id}/corporationhistory"]
    return out


async def _etags(sim: RunningSim, http: aiohttp.ClientSession, paths: Iterable[str]) -> dict[str, str]:
    answers = await _get_all(sim, http, paths)
    return {p: etag for p, (status, _, etag) in answers.items() if status == 200 and etag is not None}


async def _affiliation(sim: RunningSim, http: aiohttp.ClientSession, ids: list[int]) -> dict[int, Any]:
    rows: dict[int, Any] = {}
    for start in range(0, len(ids), 1000):
        url = f"{sim.base_url}/characters/affiliation"
        async with http.post(url, json=ids[start:start + 1000], headers=CURRENT) as resp:
            assert resp.status == 200
            rows.update((row["character_id"], row) for row in await resp.json())
    return rows


async def _agree(sim: RunningSim, http: aiohttp.ClientSession) -> dict[str, Any]:
    """Check GETs, the alliance list and affiliation against the truth; return the truth."""
    truth = await sim.control.truth()
    assert (await _get(http, f"{sim.base_url}/alliances"))[1] == sorted(int(a) for a in truth["alliances"])
    want = {f"/alliances/{a}": body for a, body in truth["alliances"].items()}
    want |= {f"/alliances/{a}/corporations": m for a, m in truth["alliance_corporations"].items()}
    want |= {f"/corporations/{c}": body for c, body in truth["corporations"].items()}
    want |= {f"/characters/{c}": body for c, body in truth["characters"].items()}
    deleted = {f"/characters/{c}": c for c in truth["deleted_characters"]}
    got = await _get_all(sim, http, [*want, *deleted])
    assert {p: got[p][1] for p in want} == want
    assert all(got[p][:2] == (404, {"error": "Character has been deleted!", "status": 404}) for p in deleted)
    rows = await _affiliation(sim, http, [int(c) for c in truth["characters"]] + truth["deleted_characters"])
    for char_id, body in truth["characters"].items():
        row = rows[int(char_id)]
        assert row["corporation_id"] == body["corporation_id"]
        assert row.get("alliance_id") == body.get("alliance_id")
    for char_id in truth["deleted_characters"]:
        assert rows[char_id]["corporation_id"] in sim.sim.universe.starter_corporations
        assert "alliance_id" not in rows[char_id]
    return truth


def _frozen(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _truth_rows(before: dict[str, Any], after: dict[str, Any]) -> set[Row]:
    """Field differences of the entities in both truths, as the change log writes them."""
    rows: set[Row] = set()
    for kind, entity in ENTITIES:
        for eid in before[kind].keys() & after[kind].keys():
            old, new = before[kind][eid], after[kind][eid]
            rows |= {(entity, int(eid), f, _frozen(old.get(f)), _frozen(new.get(f)))
                     for f in old.keys() | new.keys() if old.get(f) != new.get(f)}
    for eid in before["alliance_corporations"].keys() & after["alliance_corporations"].keys():
        old, new = before["alliance_corporations"][eid], after["alliance_corporations"][eid]
        if old != new:
            rows.add(("alliance", int(eid), "corporations", _frozen(old), _frozen(new)))
    return rows


def _log_rows(change: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> set[Row]:
    both = {e: before[k].keys() & after[k].keys() for k, e in ENTITIES}
    return {(r["entity"], r["id"], r["field"], _frozen(r["old"]), _frozen(r["new"]))
            for r in change["fields"] if str(r["id"]) in both[r["entity"]]}


async def _apply(sim: RunningSim, http: aiohttp.ClientSession, kind: str) -> tuple[dict[str, Any], ...]:
    """Apply one change of `kind` with every generic check; (the change, truth before, truth after)."""
    before_truth = await _agree(sim, http)
    before_paths = _paths(sim)
    before = await _etags(sim, http, before_paths)
    done = await sim.control.mutate(1, [kind])
    assert [c["change"] for c in done["changes"]] == [kind]
    change = done["changes"][0]
    assert change["fields"] and change["paths"]
    after = await _etags(sim, http, {*before_paths, *_paths(sim)})
    touched = set(change["paths"])
    assert {p for p in before if after.get(p) != before[p]} == touched & before.keys()
    assert touched - before.keys() <= after.keys()  # resources that did not exist before answer now
    for key, ids in change["touched"].items():
        assert set(ids) <= set(done[key])
    after_truth = await _agree(sim, http)
    assert _log_rows(change, before_truth, after_truth) == _truth_rows(before_truth, after_truth)
    return change, before_truth, after_truth


@pytest.mark.parametrize("kind", ["hop", "ceo", "members", "rename"])
async def test_the_original_kinds_can_be_asked_for(kind: str, world: RunningSim,
                                                   http: aiohttp.ClientSession) -> None:
    change, _, _ = await _apply(world, http, kind)
    assert world.sim.universe.corporations[change["corporation_id"]].npc is False


async def test_found_alliance(world: RunningSim, http: aiohttp.ClientSession) -> None:
    change, before, after = await _apply(world, http, "found_alliance")
    alliance_id, founder = change["alliance_id"], change["corporation_id"]
    assert str(alliance_id) not in before["alliances"] and str(alliance_id) in after["alliances"]
    body = after["alliances"][str(alliance_id)]
    ceo = after["corporations"][str(founder)]["ceo_id"]
    assert (body["executor_corporation_id"], body["creator_corporation_id"], body["creator_id"]) == (
        founder, founder, ceo)
    members = after["alliance_corporations"][str(alliance_id)]
    assert founder in members and len(members) == 2  # the new corporation and one that had no alliance
    joiner = next(c for c in members if c != founder)
    assert "alliance_id" not in before["corporations"].get(str(joiner), {})
    assert after["corporations"][str(joiner)]["alliance_id"] == alliance_id
    assert after["characters"][str(ceo)]["alliance_id"] == alliance_id
    assert {"/alliances", f"/alliances/{alliance_id}", f"/corporations/{founder}"} <= set(change["paths"])
    rows = {(r["entity"], r["id"], r["field"]): (r["old"], r["new"]) for r in change["fields"]}
    assert rows[("alliance", alliance_id, "exists")] == (False, True)


async def test_disband_alliance(world: RunningSim, http: aiohttp.ClientSession) -> None:
    change, before, after = await _apply(world, http, "disband_alliance")
    alliance_id = change["alliance_id"]
    members = before["alliance_corporations"][str(alliance_id)]
    assert members and str(alliance_id) not in after["alliances"]
    status, body, _ = await _get(http, f"{world.base_url}/alliances/{alliance_id}")
    old = dict(before["alliances"][str(alliance_id)])
    old.pop("executor_corporation_id", None)
    assert status == 200 and body == old  # still served by id, without an executor
    assert (await _get(http, f"{world.base_url}/alliances/{alliance_id}/corporations"))[1] == []
    for corp_id in members:
        status, corp, _ = await _get(http, f"{world.base_url}/corporations/{corp_id}")
        assert status == 200 and "alliance_id" not in corp
        history = (await _get(http, f"{world.base_url}/corporations/{corp_id}/alliancehistory"))[1]
        assert "alliance_id" not in history[0]
        assert all(row.get("is_deleted") for row in history if row.get("alliance_id") == alliance_id)
    fields = {(r["entity"], r["id"], r["field"]): r["new"] for r in change["fields"]}
    assert fields[("alliance", alliance_id, "listed")] is False
    assert fields[("alliance", alliance_id, "corporations")] == []


async def test_close_corporation(world: RunningSim, http: aiohttp.ClientSession) -> None:
    uni = world.sim.universe
    change, before, after = await _apply(world, http, "close_corporation")
    corp_id = change["corporation_id"]
    old = before["corporations"][str(corp_id)]
    status, corp, _ = await _get(http, f"{world.base_url}/corporations/{corp_id}")
    assert status == 200 and (corp["state"], corp["ceo_id"], corp["member_count"]) == ("closed", 1, 0)
    assert "alliance_id" not in corp
    assert corp_id not in after["alliance_corporations"].get(str(old["alliance_id"]), [])
    # Its members: the characters whose history's last move was out of it, now.
    moved = [c for c, ch in uni.characters.items()
             if len(ch.corp_history) > 1 and ch.corp_history[-2][2] == corp_id and not ch.deleted]
    assert old["ceo_id"] in moved
    rows = await _affiliation(world, http, moved)
    for char_id in moved:
        assert rows[char_id]["corporation_id"] in uni.starter_corporations
        assert "alliance_id" not in rows[char_id]
    named = [c for c, ch in uni.characters.items()
             if any(row[2] == corp_id for row in ch.corp_history) and not ch.deleted and not ch.npc]
    for char_id in named:  # members and former members alike
        history = (await _get(http, f"{world.base_url}/characters/{char_id}/corporationhistory"))[1]
        assert all(row.get("is_deleted") for row in history if row["corporation_id"] == corp_id)


async def test_move_character(world: RunningSim, http: aiohttp.ClientSession) -> None:
    change, before, _ = await _apply(world, http, "move_character")
    char_id, target = change["character_id"], change["corporation_id"]
    status, body, _ = await _get(http, f"{world.base_url}/characters/{char_id}")
    assert status == 200 and body["corporation_id"] == target
    assert body["corporation_id"] != before["characters"][str(char_id)]["corporation_id"]
    corp = (await _get(http, f"{world.base_url}/corporations/{target}"))[1]
    assert body.get("alliance_id") == corp.get("alliance_id")  # the alliance follows the corporation
    row = (await _affiliation(world, http, [char_id]))[char_id]
    assert (row["corporation_id"], row.get("alliance_id")) == (target, corp.get("alliance_id"))
    history = (await _get(http, f"{world.base_url}/characters/{char_id}/corporationhistory"))[1]
    assert history[0]["corporation_id"] == target


async def test_move_character_into_an_alliance(world: RunningSim, http: aiohttp.ClientSession) -> None:
    for _ in range(10):  # 70 % of moves go to a corporation in an alliance
        change = (await world.control.mutate(1, ["move_character"]))["changes"][0]
        row = (await _affiliation(world, http, [change["character_id"]]))[change["character_id"]]
        if "alliance_id" in row:
            assert row["alliance_id"] == world.sim.universe.corporations[change["corporation_id"]].alliance_id
            return
    pytest.fail("no move into an alliance in 10 tries")


async def test_biomass_character(world: RunningSim, http: aiohttp.ClientSession) -> None:
    change, before, after = await _apply(world, http, "biomass_character")
    char_id = change["character_id"]
    assert str(char_id) in before["characters"] and str(char_id) not in after["characters"]
    assert char_id in after["deleted_characters"]
    for path in (f"/characters/{char_id}", f"/characters/{char_id}/corporationhistory"):
        assert (await _get(http, world.base_url + path))[:2] == (
            404, {"error": "Character has been deleted!", "status": 404})
    row = (await _affiliation(world, http, [char_id]))[char_id]
    assert row["corporation_id"] in world.sim.universe.starter_corporations and set(row) == {
        "character_id", "corporation_id"}
    deleted = {"entity": "character", "id": char_id, "field": "deleted", "old": False, "new": True}
    assert deleted in change["fields"]


async def test_executor_change(world: RunningSim, http: aiohttp.ClientSession) -> None:
    change, before, after = await _apply(world, http, "executor")
    alliance_id, executor = change["alliance_id"], change["corporation_id"]
    old = before["alliances"][str(alliance_id)].get("executor_corporation_id")
    assert after["alliances"][str(alliance_id)]["executor_corporation_id"] == executor != old
    assert executor in after["alliance_corporations"][str(alliance_id)]
    assert change["paths"] == [f"/alliances/{alliance_id}"]
    assert change["fields"] == [{"entity": "alliance", "id": alliance_id, "field": "executor_corporation_id",
                                 "old": old, "new": executor}]


async def test_many_changes_of_every_kind_keep_everything_in_agreement(
        world: RunningSim, http: aiohttp.ClientSession) -> None:
    done = await world.control.mutate(60, list(KINDS))
    assert {c["change"] for c in done["changes"]} == set(KINDS)
    await _agree(world, http)


async def test_bad_kinds_are_refused(world: RunningSim) -> None:
    for body in ({"count": 1, "kinds": ["teleport"]}, {"count": 1, "kinds": []}, {"count": 1, "kinds": "hop"},
                 {"count": 1, "kinds": [1]}):
        async with world.control.session.post(f"{world.base_url}/_sim/mutate", json=body) as resp:
            assert resp.status == 400, body
    assert world.sim.universe.revisions == {}


async def test_the_default_mix_is_what_it_always_was() -> None:
    # Drawn by the mutator before kinds existed (seed 1, 30 alliances): the default must not drift.
    async with running_sim(alliances=30) as sim:
        done = await sim.control.mutate(12)
    assert [(c["change"], c["corporation_id"]) for c in done["changes"]] == [
        ("ceo", 98084712), ("members", 1015131522), ("ceo", 1691759103), ("members", 2098959506),
        ("hop", 98644699), ("ceo", 98361817), ("ceo", 468802555), ("members", 883256230),
        ("hop", 1149919171), ("hop", 1375683742), ("members", 1750831496), ("members", 98005128)]
