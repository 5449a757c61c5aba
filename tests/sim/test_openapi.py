"""Every 200 body served at compatibility date 2026-08-18 validates against CCP's OpenAPI schema, killmails
and the roster's ordinary pilots included."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import jsonschema
import pytest

from killreport.sim.roster import ROSTER_BASE
from killreport.sim.testing import RunningSim
from tests.sim.conftest import CURRENT, OPENAPI_SPEC

SPEC_PATH = OPENAPI_SPEC


def _validator(spec: dict[str, Any], path: str, method: str) -> jsonschema.protocols.Validator:
    schema = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    resolver_doc = {"components": spec["components"], **schema}
    cls = jsonschema.validators.validator_for(resolver_doc, default=jsonschema.Draft202012Validator)
    return cls(resolver_doc, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        pytest.fail(f"missing {SPEC_PATH}")
    return dict(json.loads(SPEC_PATH.read_text()))


async def _check(
    http: aiohttp.ClientSession, validator: Any, method: str, url: str, body: Any = None
) -> None:
    async with http.request(method, url, headers=CURRENT, json=body) as resp:
        assert resp.status == 200, (url, resp.status, await resp.text())
        data = await resp.json()
    errors = sorted(validator.iter_errors(data), key=str)
    assert not errors, (url, [e.message for e in errors[:3]])


async def test_every_200_validates(
    sim: RunningSim, http: aiohttp.ClientSession, spec: dict[str, Any]
) -> None:
    uni = sim.sim.universe
    base = sim.base_url
    v = {
        p: _validator(spec, p, m)
        for p, m in (
            ("/alliances", "get"),
            ("/alliances/{alliance_id}", "get"),
            ("/alliances/{alliance_id}/corporations", "get"),
            ("/corporations/{corporation_id}", "get"),
            ("/characters/{character_id}", "get"),
            ("/corporations/{corporation_id}/alliancehistory", "get"),
            ("/characters/{character_id}/corporationhistory", "get"),
            ("/status", "get"),
            ("/characters/affiliation", "post"),
            ("/universe/names", "post"),
        )
    }
    await _check(http, v["/alliances"], "GET", f"{base}/alliances")
    await _check(http, v["/status"], "GET", f"{base}/status")
    for alliance_id in uni.alliances:  # closed alliances too
        await _check(http, v["/alliances/{alliance_id}"], "GET", f"{base}/alliances/{alliance_id}")
        await _check(
            http,
            v["/alliances/{alliance_id}/corporations"],
            "GET",
            f"{base}/alliances/{alliance_id}/corporations",
        )
    for corp_id in uni.corporations:  # NPC, closed and independent corporations too
        await _check(http, v["/corporations/{corporation_id}"], "GET", f"{base}/corporations/{corp_id}")
        await _check(
            http,
            v["/corporations/{corporation_id}/alliancehistory"],
            "GET",
            f"{base}/corporations/{corp_id}/alliancehistory",
        )
    live = [c.id for c in uni.characters.values() if not c.deleted and not c.npc]
    for char_id in live[:150]:
        await _check(http, v["/characters/{character_id}"], "GET", f"{base}/characters/{char_id}")
        await _check(
            http,
            v["/characters/{character_id}/corporationhistory"],
            "GET",
            f"{base}/characters/{char_id}/corporationhistory",
        )
    every = sorted(uni.characters)
    await _check(http, v["/characters/affiliation"], "POST", f"{base}/characters/affiliation", every[:1000])
    names = sorted([*uni.alliances, *list(uni.corporations)[:300], *every[:300], *uni.factions])
    await _check(http, v["/universe/names"], "POST", f"{base}/universe/names", names[:1000])


async def test_truth_bodies_validate(sim: RunningSim, spec: dict[str, Any]) -> None:
    truth = await sim.control.truth()
    for kind, path in (
        ("alliances", "/alliances/{alliance_id}"),
        ("corporations", "/corporations/{corporation_id}"),
        ("characters", "/characters/{character_id}"),
    ):
        validator = _validator(spec, path, "get")
        for body in truth[kind].values():
            assert not list(validator.iter_errors(body)), body


async def test_killmails_and_ordinary_pilots_validate(
    sim: RunningSim, http: aiohttp.ClientSession, spec: dict[str, Any]
) -> None:
    killmail = _validator(spec, "/killmails/{killmail_id}/{killmail_hash}", "get")
    character = _validator(spec, "/characters/{character_id}", "get")
    history = _validator(spec, "/characters/{character_id}/corporationhistory", "get")
    kills = await sim.control.publish_kills(150)
    for kill in kills:
        url = f"{sim.base_url}/killmails/{kill['killmail_id']}/{kill['hash']}/"
        await _check(http, killmail, "GET", url)
    roster = sim.sim.roster
    pilots = [p for p in range(0, roster.size, max(1, roster.size // 40)) if not roster.is_deleted(p)]
    assert pilots
    for k in pilots:
        url = f"{sim.base_url}/characters/{ROSTER_BASE + k}"
        await _check(http, character, "GET", url)
        await _check(http, history, "GET", f"{url}/corporationhistory")
