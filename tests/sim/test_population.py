"""The lazy population: characters and corporations derived from (seed, id), served on every route,
materialised only when a change lands on them, in kills, and asked for by id in the truth."""

from __future__ import annotations

import json
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from killreport.sim import schemas
from killreport.sim.cache import BodyCache
from killreport.sim.model import epoch
from killreport.sim.options import SimOptions
from killreport.sim.population import CHARACTER_BASE, CORPORATION_BASE, Population, member_ends
from killreport.sim.resources import LAZY_PRUNE_AT
from killreport.sim.state import Sim
from killreport.sim.testing import RunningSim, running_sim
from killreport.sim.universe import generate
from tests.sim.conftest import CURRENT, OPENAPI_SPEC
from tests.sim.test_openapi import _validator

CHARS, CORPS = 3_000, 200


@pytest.fixture
async def big() -> AsyncIterator[RunningSim]:
    """A small universe with a population of 3,000 characters and 200 corporations."""
    async with running_sim(alliances=20, population_characters=CHARS, population_corporations=CORPS) as sim:
        yield sim


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url, headers=CURRENT) as resp:
        return resp.status, await resp.json()


async def _post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, headers=CURRENT, json=body) as resp:
        return resp.status, await resp.json()


def test_the_same_seed_derives_the_same_population_and_another_seed_another() -> None:
    uni = generate(3, 10, 1, ((CHARACTER_BASE, CHARS), (CORPORATION_BASE, CORPS)))
    one, two = Population(3, CHARS, CORPS, uni), Population(3, CHARS, CORPS, uni)
    other = Population(4, CHARS, CORPS, generate(4, 10, 1))
    for eid in (CHARACTER_BASE, CHARACTER_BASE + 17, CHARACTER_BASE + CHARS - 1):
        assert one.character(eid) == two.character(eid)
        assert one.character(eid) != other.character(eid)
    assert one.corporation(CORPORATION_BASE + 5) == two.corporation(CORPORATION_BASE + 5)
    assert one.corporation(CORPORATION_BASE + 5) != other.corporation(CORPORATION_BASE + 5)
    assert one.character(CHARACTER_BASE + CHARS) is None and one.corporation(CORPORATION_BASE + CORPS) is None
    assert one.character(CHARACTER_BASE - 1) is None and one.corporation(CORPORATION_BASE - 1) is None


def test_every_corporation_has_its_members_and_its_ceo_is_one_of_them() -> None:
    uni = generate(1, 10, 1, ((CHARACTER_BASE, CHARS), (CORPORATION_BASE, CORPS)))
    pop = Population(1, CHARS, CORPS, uni)
    members: dict[int, list[int]] = {}
    for k in range(CHARS):
        char = pop.character(CHARACTER_BASE + k)
        assert char is not None
        members.setdefault(char.corporation_id, []).append(char.id)
        assert char.corp_history[-1][2] == char.corporation_id or char.deleted
        assert all(row[1] >= epoch(char.birthday) for row in char.corp_history)
    in_corporations = 0
    for j in range(CORPS):
        corp = pop.corporation(CORPORATION_BASE + j)
        assert corp is not None and corp.alliance_id is None
        assert len(members[corp.id]) == corp.member_count >= 1
        assert corp.ceo_id == corp.creator_id == min(members[corp.id])
        ceo = pop.character(corp.ceo_id)
        assert ceo is not None and not ceo.deleted and epoch(ceo.birthday) <= epoch(corp.date_founded or "")
        in_corporations += corp.member_count
    assert in_corporations == pop.players == int(CHARS * 0.7)
    rest = [pop.character(CHARACTER_BASE + k) for k in range(pop.players, CHARS)]
    assert all(c is not None and c.corporation_id in uni.starter_corporations for c in rest)
    deleted = sum(1 for c in rest if c is not None and c.deleted)
    assert 0.3 * len(rest) < deleted < 0.6 * len(rest)  # 45 % of those in starter corporations


def test_member_counts_have_a_heavy_tail() -> None:
    ends = member_ends(1, 200_000, 10_000)
    sizes = sorted(ends[j] - (ends[j - 1] if j else 0) for j in range(len(ends)))
    assert sizes[0] >= 1 and ends[-1] == 140_000
    assert sizes[len(sizes) // 2] <= 5 and sizes[-1] > 100 * sizes[len(sizes) // 2]


def test_the_generator_leaves_the_population_ranges_free_and_is_unchanged_without_one() -> None:
    blocks = ((CHARACTER_BASE, 50_000_000), (CORPORATION_BASE, 100_000_000))
    with_blocks, without = generate(5, 200, 8, blocks), generate(5, 200, 8)
    ids = [*with_blocks.characters, *with_blocks.corporations, *with_blocks.alliances]
    assert not [i for i in ids if any(first <= i < first + count for first, count in blocks)]
    # Only the ids drawn into a block moved: the same entities, the same count.
    assert len(with_blocks.characters) == len(without.characters)
    assert sorted(c.name for c in with_blocks.corporations.values()) == sorted(
        c.name for c in without.corporations.values())
    assert without == generate(5, 200, 8)


def test_sizes_are_checked() -> None:
    with pytest.raises(ValueError, match="CEO"):
        SimOptions(population_characters=100, population_corporations=71)
    with pytest.raises(ValueError, match="within"):
        SimOptions(population_characters=-1)
    with pytest.raises(ValueError, match="within"):
        SimOptions(population_characters=100_000_001)


async def test_every_route_answers_for_the_population(big: RunningSim, http: aiohttp.ClientSession) -> None:
    spec = json.loads(OPENAPI_SPEC.read_text())
    pop, base = big.sim.population, big.base_url
    live = [CHARACTER_BASE + k for k in (0, 1, 2, 500, 2_099) if not pop.is_deleted(k)]
    character = _validator(spec, "/characters/{character_id}", "get")
    corporation = _validator(spec, "/corporations/{corporation_id}", "get")
    for eid in live:
        status, body = await _get(http, f"{base}/characters/{eid}")
        assert status == 200 and not list(character.iter_errors(body))
        status, history = await _get(http, f"{base}/characters/{eid}/corporationhistory")
        assert status == 200 and history[0]["corporation_id"] == body["corporation_id"]
        assert not any(row.get("is_deleted") for row in history)
    corp_id = CORPORATION_BASE + 7
    status, corp = await _get(http, f"{base}/corporations/{corp_id}")
    assert status == 200 and not list(corporation.iter_errors(corp))
    status, rows = await _get(http, f"{base}/corporations/{corp_id}/alliancehistory")
    assert status == 200 and rows == [{"record_id": rows[0]["record_id"], "start_date": corp["date_founded"]}]
    status, affiliation = await _post(http, f"{base}/characters/affiliation", [*live, CHARACTER_BASE + CHARS])
    assert status == 200 and [row["character_id"] for row in affiliation] == live
    status, names = await _post(http, f"{base}/universe/names", [live[0], corp_id])
    assert status == 200 and [n["category"] for n in names] == ["character", "corporation"]
    assert names[1]["name"] == corp["name"]


async def test_ids_in_range_beyond_the_population_and_deleted_ones_answer_404(
    big: RunningSim, http: aiohttp.ClientSession
) -> None:
    pop, base = big.sim.population, big.base_url
    char, corp = CHARACTER_BASE + CHARS, CORPORATION_BASE + CORPS
    for url, message in ((f"/characters/{char}", "Character not found"),
                         (f"/characters/{char}/corporationhistory", "Character not found"),
                         (f"/corporations/{corp}", "Corporation not found"),
                         (f"/corporations/{corp}/alliancehistory", "Corporation not found")):
        status, body = await _get(http, base + url)
        assert (status, body["error"]) == (404, message)
    deleted = next(CHARACTER_BASE + k for k in range(CHARS) if pop.is_deleted(k))
    status, body = await _get(http, f"{base}/characters/{deleted}")
    assert (status, body["error"]) == (404, "Character has been deleted!")
    status, rows = await _post(http, f"{base}/characters/affiliation", [deleted])
    assert status == 200 and rows[0]["corporation_id"] in big.sim.universe.starter_corporations


async def test_the_truth_of_ids_is_what_the_routes_serve(
    big: RunningSim, http: aiohttp.ClientSession
) -> None:
    pop, uni = big.sim.population, big.sim.universe
    deleted = next(CHARACTER_BASE + k for k in range(CHARS) if pop.is_deleted(k))
    eager = next(c.id for c in uni.characters.values() if not c.npc and not c.deleted)
    chars = [CHARACTER_BASE, CHARACTER_BASE + 42, eager, deleted, CHARACTER_BASE + CHARS]
    corps = [CORPORATION_BASE + 3, next(iter(uni.alliances.values())).members[0], CORPORATION_BASE + CORPS]
    truth = await big.control.truth_of(chars, corps)
    assert truth["deleted_characters"] == [deleted]
    assert truth["missing"] == {"characters": [chars[-1]], "corporations": [corps[-1]]}
    for eid in (CHARACTER_BASE, CHARACTER_BASE + 42, eager):
        assert truth["characters"][str(eid)] == (await _get(http, f"{big.base_url}/characters/{eid}"))[1]
    for eid in corps[:2]:
        assert truth["corporations"][str(eid)] == (await _get(http, f"{big.base_url}/corporations/{eid}"))[1]


@pytest.mark.parametrize("body", [[1, 2], {"characters": [True]}, {"characters": "1"}, {"alliances": [1]},
                                  {"characters": list(range(100_001))}])
async def test_a_bad_truth_of_ids_call_is_refused(
    big: RunningSim, http: aiohttp.ClientSession, body: Any
) -> None:
    async with http.post(f"{big.base_url}/_sim/truth/ids", json=body) as resp:
        assert resp.status == 400


async def test_changes_land_on_the_population_and_materialise_only_what_they_change(
    big: RunningSim, http: aiohttp.ClientSession
) -> None:
    sim = big.sim
    before = len(sim.universe.characters), len(sim.universe.corporations)
    log = await big.control.mutate(40, ["move_character", "biomass_character", "members", "rename"])
    lazy = [c for c in log["changes"] if sim.population.character_index(c.get("character_id", 0)) is not None
            or sim.population.corporation_index(c.get("corporation_id", 0)) is not None]
    assert lazy, "about half the changes land on the population"
    grown = len(sim.universe.characters) - before[0] + len(sim.universe.corporations) - before[1]
    assert 0 < grown <= 3 * len(lazy)  # the entity, its corporation and that one's CEO at most
    last = {c["character_id"]: c for c in lazy if "character_id" in c}  # a character can move twice
    assert last
    for eid, change in last.items():
        status, body = await _get(http, f"{big.base_url}/characters/{eid}")
        if change["change"] == "move_character":
            assert status == 200 and body["corporation_id"] == change["corporation_id"]
            assert (await big.control.truth_of([eid]))["characters"][str(eid)] == body
        else:
            assert (status, body["error"]) == (404, "Character has been deleted!")
            assert (await big.control.truth_of([eid]))["deleted_characters"] == [eid]
    # The last value each change left in a population corporation's fields is what its route serves.
    latest = {(row["id"], row["field"]): row["new"] for change in log["changes"] for row in change["fields"]
              if row["entity"] == "corporation" and sim.population.corporation_index(row["id"]) is not None}
    assert latest
    for (corp_id, field), value in latest.items():
        status, body = await _get(http, f"{big.base_url}/corporations/{corp_id}")
        assert status == 200 and body.get(field) == value


async def test_kills_draw_the_population() -> None:
    async with running_sim(alliances=5, population_characters=200_000, population_corporations=10_000) as sim:
        kills = await sim.control.publish_kills(30)
    people = [a for k in kills for a in (k["esi"]["victim"], *k["esi"]["attackers"]) if "character_id" in a]
    lazy = [p for p in people if sim.sim.population.character_index(p["character_id"]) is not None]
    assert len(lazy) > len(people) // 2  # 200,000 of about 201,000 characters
    for person in lazy:
        k = person["character_id"] - CHARACTER_BASE
        assert person["corporation_id"] == sim.sim.population.corporation_of(k)


def test_twenty_million_characters_answer_for_random_ids_and_hold_nothing_per_entity() -> None:
    sim = Sim(SimOptions(alliances=10, population_characters=20_000_000, population_corporations=1_000_000))
    held = len(sim.universe.characters), len(sim.universe.corporations)
    rng = random.Random(9)
    res = sim.resources
    for _ in range(300):
        k = rng.randrange(20_000_000)
        char = res.character(CHARACTER_BASE + k)
        assert char is not None and char.id == CHARACTER_BASE + k
        corp = sim.universe.corporation(char.corporation_id)
        assert corp is not None
        if corp.id >= CORPORATION_BASE:
            assert schemas.corporation(corp, 2, True)["member_count"] >= 1
        truth = sim.truth_of([char.id], [corp.id])
        assert truth["missing"] == {"characters": [], "corporations": []}
    assert (len(sim.universe.characters), len(sim.universe.corporations)) == held
    assert res.character(CHARACTER_BASE + 20_000_000) is None
    assert sim.universe.corporation(CORPORATION_BASE + 1_000_000) is None


async def test_affiliation_answers_as_the_bodies_and_counts_population_ids_asked_before_expires(
    big: RunningSim, http: aiohttp.ClientSession
) -> None:
    pop = big.sim.population
    ids = [CHARACTER_BASE + k for k in range(0, CHARS, 97)]
    eager = next(c.id for c in big.sim.universe.characters.values() if not c.npc and not c.deleted)
    status, rows = await _post(http, f"{big.base_url}/characters/affiliation", [*ids, eager])
    assert status == 200 and len(rows) == len(ids) + 1
    for row in rows[:-1]:
        body = pop.character(row["character_id"])
        assert body is not None and row == {"character_id": body.id, "corporation_id": body.corporation_id}
    assert (await big.control.stats())["affiliation_early_ids"] == 0
    await _post(http, f"{big.base_url}/characters/affiliation", [ids[0], ids[3], eager])
    assert (await big.control.stats())["affiliation_early_ids"] == 3
    assert len(big.sim.population_handed_out["127.0.0.1"]) == CHARS


def test_a_cache_prune_drops_only_expired_entries() -> None:
    cache = BodyCache()
    for i in range(4):
        cache.get((f"/characters/{i}", 2), 0, 100.0, 10.0 * i, lambda: {"i": 1})  # expires 100, 110, 120, 130
    cache.prune(115.0)
    assert len(cache) == 2
    kept = cache.get(("/characters/3", 2), 0, 115.0, 10.0, lambda: {"i": 2})
    assert kept.data == {"i": 1} and kept.expires == 130


async def test_population_bodies_are_cached_apart_and_what_clients_were_handed_is_pruned(
    big: RunningSim, http: aiohttp.ClientSession
) -> None:
    res = big.sim.resources
    main = len(res.cache)
    for eid in (CHARACTER_BASE, CORPORATION_BASE):
        kind = "characters" if eid == CHARACTER_BASE else "corporations"
        assert (await _get(http, f"{big.base_url}/{kind}/{eid}"))[0] == 200
    assert len(res.lazy_cache) == 2 and len(res.cache) == main
    now = time.time()
    for i in range(LAZY_PRUNE_AT):
        big.sim.hand_out("10.0.0.1", f"/characters/{i}", int(now) - 1)  # all expired
    big.sim.hand_out("10.0.0.1", "/characters/fresh", int(now) + 3600)
    assert len(big.sim.handed_out) < LAZY_PRUNE_AT
    assert big.sim.is_cache_violation("10.0.0.1", "/characters/fresh")
