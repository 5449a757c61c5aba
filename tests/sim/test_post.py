"""POST /universe/names and POST /characters/affiliation: batches, validation, deleted characters."""

from __future__ import annotations

from typing import Any

import aiohttp

from killreport.sim.testing import RunningSim, running_sim


async def _post(
    http: aiohttp.ClientSession, url: str, body: Any = None, raw: bytes | None = None
) -> tuple[int, Any]:
    kwargs: dict[str, Any] = (
        {"data": raw, "headers": {"Content-Type": "application/json"}} if raw is not None else {"json": body}
    )
    async with http.post(url, **kwargs) as resp:
        return resp.status, await resp.json()


async def test_names_resolve_every_kind_and_deleted_characters(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    uni = sim.sim.universe
    alliance = uni.active_alliance_ids()[0]
    corp = next(iter(uni.corporations))
    deleted = next(c for c in uni.characters.values() if c.deleted)
    status, rows = await _post(http, f"{sim.base_url}/universe/names", [alliance, corp, deleted.id, 500001])
    assert status == 200
    assert {(r["id"], r["category"]) for r in rows} == {
        (alliance, "alliance"),
        (corp, "corporation"),
        (deleted.id, "character"),
        (500001, "faction"),
    }
    assert next(r["name"] for r in rows if r["id"] == deleted.id) == deleted.name


async def test_names_one_unknown_id_fails_the_batch(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    ids = [*sim.sim.universe.active_alliance_ids()[:5], 123]
    status, body = await _post(http, f"{sim.base_url}/universe/names", ids)
    assert status == 404 and body == {"error": "Ensure all IDs are valid before resolving."}


async def test_affiliation_answers_1000(http: aiohttp.ClientSession) -> None:
    async with running_sim(alliances=150) as sim:
        uni = sim.sim.universe
        chars = sorted(c.id for c in uni.characters.values() if not c.npc)[:1000]
        assert len(chars) == 1000
        status, rows = await _post(http, f"{sim.base_url}/characters/affiliation", chars)
    assert status == 200 and len(rows) == 1000
    assert any(uni.characters[row["character_id"]].deleted for row in rows)
    for row in rows:
        char = uni.characters[row["character_id"]]
        assert row["corporation_id"] == char.corporation_id
        assert row.get("alliance_id") == uni.corporations[char.corporation_id].alliance_id
        if char.deleted:
            assert row["corporation_id"] in uni.starter_corporations


async def test_affiliation_has_expires(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    char = next(c.id for c in sim.sim.universe.characters.values() if not c.npc)
    async with http.post(f"{sim.base_url}/characters/affiliation", json=[char]) as resp:
        assert resp.status == 200 and "Expires" in resp.headers and "ETag" not in resp.headers
    async with http.post(f"{sim.base_url}/universe/names", json=[char]) as resp:
        assert "Expires" not in resp.headers


async def test_bad_bodies_are_400(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    bad: list[Any] = [
        [],
        list(range(90_000_000, 90_001_001)),
        [90000001, 90000001],
        ["90000001"],
        [1.5],
        [True],
        [-4],
        [2**63],
        {"ids": [1]},
        "90000001",
        None,
    ]
    for route in ("/universe/names", "/characters/affiliation"):
        for body in bad:
            status, payload = await _post(http, sim.base_url + route, body)
            assert status == 400, (route, body)
            assert "error" in payload
        status, _ = await _post(http, sim.base_url + route, raw=b"[1, 2")
        assert status == 400
