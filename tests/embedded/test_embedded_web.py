"""`killreport web` over a SQLite copy: the same pages and API as over PostgreSQL (the lookup
contract tests in tests/store hold the queries equal; this holds the whole command to it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from killreport.sim.testing import running_sim
from tests.cluster import cli, embedded_env, web_process

pytestmark = pytest.mark.timeout(240)


async def _json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        assert resp.status == 200, (url, await resp.text())
        return await resp.json()


async def test_pages_search_and_api_over_a_synced_file(tmp_path: Path) -> None:
    async with running_sim(alliances=12, latency_ms=2) as sim:
        env = embedded_env(f"sqlite:///{tmp_path / 'k.db'}", sim.base_url)
        done = await cli(env, "sync-all", "--wait", timeout_s=180)
        assert done.code == 0, done.err[-3000:]
        truth = await sim.control.truth()
    alliance_id, alliance = next(iter(truth["alliances"].items()))
    async with web_process(env) as base, aiohttp.ClientSession() as session:
        status = await _json(session, base + "api/status")
        assert status["stored"]["alliances"] == 12 and status["broker"]["reachable"]
        shown = await _json(session, f"{base}api/alliances/{alliance_id}")
        assert shown["alliance"]["ticker"] == alliance["ticker"]
        members = await _json(session, f"{base}api/alliances/{alliance_id}/corporations")
        assert members["total"] == len(truth["alliance_corporations"][alliance_id])
        found = await _json(session, base + "api/search?q=" + alliance["ticker"])
        assert any(i["kind"] == "alliance" and str(i["id"]) == alliance_id for i in found["items"])
        async with session.get(f"{base}alliances/{alliance_id}") as page:
            assert page.status == 200 and "text/html" in page.headers["Content-Type"]
