"""Paths, prefixes, schemas by compatibility date, and the 404s real ESI answers."""

from __future__ import annotations

import json

import aiohttp
import jsonschema
import pytest

from killreport.sim.testing import RunningSim
from tests.sim.conftest import CURRENT, OPENAPI_SPEC


def _player_corp(sim: RunningSim) -> int:
    truth_corps = [c for c in sim.sim.universe.corporations.values() if c.alliance_id and not c.npc]
    return truth_corps[0].id


def _live_character(sim: RunningSim) -> int:
    return next(c.id for c in sim.sim.universe.characters.values() if not c.deleted and not c.npc and c.title)


@pytest.mark.parametrize(
    "shape",
    [
        "{}",
        "{}/",
        "/latest{}",
        "/v1{}",
        "/v4{}/",
        "/v6{}",
        "/legacy{}",
        "/dev{}/",
        "{}?datasource=tranquility",
        "/latest{}/?datasource=tranquility",
    ],
)
async def test_prefixes_slashes_and_datasource(
    sim: RunningSim, http: aiohttp.ClientSession, shape: str
) -> None:
    corp = _player_corp(sim)
    for path in ("/alliances", f"/corporations/{corp}", "/status"):
        url = sim.base_url + shape.format(path)
        async with http.get(url, headers=CURRENT) as resp:
            assert resp.status == 200, url
    ids = [corp]
    async with http.post(sim.base_url + shape.format("/universe/names"), json=ids) as resp:
        assert resp.status == 200


async def test_schema_by_compatibility_date(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    corp, char = _player_corp(sim), _live_character(sim)

    async def get(path: str, date: str | None, query: bool = False) -> dict[str, object]:
        headers = {} if date is None or query else {"X-Compatibility-Date": date}
        suffix = f"?compatibility_date={date}" if query and date else ""
        async with http.get(f"{sim.base_url}{path}{suffix}", headers=headers) as resp:
            assert resp.status == 200
            return dict(await resp.json())

    old_corp = await get(f"/corporations/{corp}", None)
    assert "tax_rate" in old_corp and "tax_rates" not in old_corp and "state" not in old_corp
    assert "tax_rate" in await get(f"/corporations/{corp}", "2026-07-20")
    for date, query in (("2026-07-21", False), ("2026-08-18", False), ("2026-08-18", True)):
        new_corp = await get(f"/corporations/{corp}", date, query)
        assert "tax_rates" in new_corp and "tax_rate" not in new_corp and "faction_id" not in new_corp
        assert {
            "state",
            "type",
            "friendly_fire",
            "description",
            "home_station_id",
            "shares",
            "war_eligible",
        } <= set(new_corp)
    old_char = await get(f"/characters/{char}", "2026-06-08")
    assert "title" in old_char and "achievement_score" not in old_char
    new_char = await get(f"/characters/{char}", "2026-06-09")
    assert "corporation_title" in new_char and "title" not in new_char and "achievement_score" in new_char


async def test_old_schema_does_not_validate_against_current_spec(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    spec = json.loads(OPENAPI_SPEC.read_text())
    schema = {"components": spec["components"], "$ref": "#/components/schemas/CorporationsDetail"}
    async with http.get(f"{sim.base_url}/corporations/{_player_corp(sim)}") as resp:
        body = await resp.json()
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(body))


async def test_not_found_messages(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    uni = sim.sim.universe
    deleted = next(c.id for c in uni.characters.values() if c.deleted)
    npc_ceo = next(c.id for c in uni.characters.values() if c.npc)
    cases = {
        f"/characters/{deleted}": "Character has been deleted!",
        "/characters/90000000": "Character not found",
        f"/characters/{npc_ceo}": "Character not found",
        "/characters/1": "Character not found",
        "/corporations/98999999": "Corporation not found",
        "/alliances/99999999": "Alliance not found",
        f"/characters/{deleted}/corporationhistory": "Character has been deleted!",
    }
    for path, message in cases.items():
        async with http.get(sim.base_url + path, headers=CURRENT) as resp:
            assert resp.status == 404, path
            assert await resp.json() == {"error": message, "status": 404}
    async with http.get(f"{sim.base_url}/characters/{deleted}") as resp:
        assert await resp.json() == {"error": "Character has been deleted!"}  # old bodies lack `status`


async def test_npc_corporation_answers_with_npc_ceo(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{sim.base_url}/corporations/1000002", headers=CURRENT) as resp:
        body = await resp.json()
    assert resp.status == 200 and body["type"] == "npc_owned" and 3_000_000 <= body["ceo_id"] < 4_000_000


async def test_bad_requests(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    for path, headers in (
        ("/corporations/abc", CURRENT),
        ("/characters/-5", CURRENT),
        ("/alliances", {"X-Compatibility-Date": "yesterday"}),
    ):
        async with http.get(sim.base_url + path, headers=headers) as resp:
            assert resp.status == 400, path
    async with http.get(f"{sim.base_url}/nothing/here") as resp:
        assert resp.status == 404
    async with http.get(f"{sim.base_url}/universe/names") as resp:
        assert resp.status == 405


async def test_histories(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    corp, char = _player_corp(sim), _live_character(sim)
    async with http.get(f"{sim.base_url}/corporations/{corp}/alliancehistory") as resp:
        rows = await resp.json()
    assert rows[0]["alliance_id"] == sim.sim.universe.corporations[corp].alliance_id
    assert [r["record_id"] for r in rows] == sorted((r["record_id"] for r in rows), reverse=True)
    async with http.get(f"{sim.base_url}/characters/{char}/corporationhistory") as resp:
        rows = await resp.json()
    assert rows[0]["corporation_id"] == sim.sim.universe.characters[char].corporation_id


async def test_status_and_alliance_lists(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    uni = sim.sim.universe
    async with http.get(f"{sim.base_url}/alliances") as resp:
        listed = await resp.json()
    assert listed == uni.active_alliance_ids() and len(listed) == 30
    closed = next(a for a in uni.alliances.values() if a.closed)
    assert closed.id not in listed
    async with http.get(f"{sim.base_url}/alliances/{closed.id}/corporations") as resp:
        assert await resp.json() == []
    async with http.get(f"{sim.base_url}/status") as resp:
        status = await resp.json()
    assert status["vip"] is False and {"players", "server_version", "start_time"} <= set(status)
