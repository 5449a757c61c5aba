"""The truth matches what ESI serves; mutations change bodies, ETags and the truth alike."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from killreport.ids import is_special
from killreport.sim.testing import RunningSim
from tests.sim.conftest import CURRENT


async def _served(http: aiohttp.ClientSession, url: str) -> tuple[int, object, str | None]:
    async with http.get(url, headers=CURRENT) as resp:
        return resp.status, await resp.json(), resp.headers.get("ETag")


async def _check_truth(sim: RunningSim, http: aiohttp.ClientSession) -> dict[str, Any]:
    truth = await sim.control.truth()
    base = sim.base_url
    assert truth["compatibility_date"] == "2026-08-18"
    assert (await _served(http, f"{base}/alliances"))[1] == sorted(int(a) for a in truth["alliances"])
    for alliance_id, body in truth["alliances"].items():
        assert (await _served(http, f"{base}/alliances/{alliance_id}"))[1] == body
        members = (await _served(http, f"{base}/alliances/{alliance_id}/corporations"))[1]
        assert members == truth["alliance_corporations"][alliance_id]
    for corp_id, body in truth["corporations"].items():
        assert (await _served(http, f"{base}/corporations/{corp_id}"))[1] == body
    for char_id, body in truth["characters"].items():
        assert (await _served(http, f"{base}/characters/{char_id}"))[1] == body
    for char_id in truth["deleted_characters"]:
        assert (await _served(http, f"{base}/characters/{char_id}"))[0] == 404
    return truth


async def test_truth_is_complete_and_matches_esi(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    truth = await _check_truth(sim, http)
    corps = truth["corporations"]
    for alliance_id, body in truth["alliances"].items():
        assert str(body["creator_corporation_id"]) in corps
        assert all(str(c) in corps for c in truth["alliance_corporations"][alliance_id])
        assert (
            str(body["creator_id"]) in truth["characters"]
            or body["creator_id"] in truth["deleted_characters"]
        )
    for body in corps.values():
        for who in (body.get("ceo_id"), body.get("creator_id")):
            if who is not None and not is_special("character", who):
                assert str(who) in truth["characters"] or who in truth["deleted_characters"]
    assert len(truth["deleted_characters"]) == sim.sim.options.deleted_count
    assert {b["state"] for b in corps.values()} == {"active", "closed"}
    assert any(b["member_count"] == 0 and b["ceo_id"] == 1 for b in corps.values())
    assert any("alliance_id" not in b and b["state"] == "active" for b in corps.values())  # creator that left


async def test_mutation_changes_bodies_etags_and_truth(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    before = await sim.control.truth()
    etags = {}
    for corp_id in before["corporations"]:
        etags[corp_id] = (await _served(http, f"{sim.base_url}/corporations/{corp_id}"))[2]
    changed = await sim.control.mutate(12)
    assert len(changed["changes"]) == 12 and changed["corporations"]
    after = await _check_truth(sim, http)
    assert after != before
    for corp_id in changed["corporations"]:
        if str(corp_id) in etags:
            assert (await _served(http, f"{sim.base_url}/corporations/{corp_id}"))[2] != etags[str(corp_id)]


def test_export_truth_cli(tmp_path: Path) -> None:
    out = tmp_path / "truth.json"
    code = "import sys; from killreport.cli.main import main; main(sys.argv[1:])"
    subprocess.run(
        [sys.executable, "-c", code, "sim", "--alliances", "12", "--seed", "7", "--export-truth", str(out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    truth = json.loads(out.read_text())
    assert len(truth["alliances"]) == 12 and set(truth) == {
        "compatibility_date",
        "alliances",
        "alliance_corporations",
        "corporations",
        "characters",
        "deleted_characters",
    }
