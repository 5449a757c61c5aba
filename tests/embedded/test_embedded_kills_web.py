"""`killreport web` over a SQLite file holding the simulator's kills: the export gives back every kill
as it was kept, and the kill pages and lists answer (the store's contract tests hold the reads
equal on both dialects; this holds the whole command to them)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from killreport.domain.killmail import Kill, Package
from killreport.sim.kills import Everyone, new_kill
from killreport.sim.roster import Roster
from killreport.sim.universe import generate
from killreport.store import killmails
from tests.cluster import embedded_env, web_process
from tests.kill_bodies import expected
from tests.stores import as_store, migrated_engine

pytestmark = pytest.mark.timeout(120)
SEED = 11
KILLS = 120


def simulated(count: int) -> list[Kill]:
    """The kills the simulator would publish first, as the feed's packages carry them."""
    universe = generate(SEED, 6, 2)
    everyone = Everyone(universe, Roster(SEED, universe))
    made = []
    for sequence in range(1, count + 1):
        k = new_kill(SEED, sequence, 1_796_000_000 + sequence * 7, None, 0.2, everyone)
        package = {"killmail_id": k.killmail_id, "hash": k.hash, "esi": k.esi, "zkb": k.zkb,
                   "uploaded_at": 1_796_000_000 + sequence * 7, "sequence_id": sequence}
        made.append(Kill.of(Package.model_validate_json(json.dumps(package))))
    return made


async def _json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        assert resp.status == 200, (url, await resp.text())
        return await resp.json()


async def test_the_export_and_the_kill_pages_over_a_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    kills = simulated(KILLS)
    async with migrated_engine(url) as engine:
        store = as_store(engine)
        async with store.begin() as conn:
            await killmails.save(conn, kills)
    env = embedded_env(url, "http://127.0.0.1:1/")
    async with web_process(env) as base, aiohttp.ClientSession() as session:
        exported: list[Any] = []
        page: str | None = "api/killmails?limit=50"
        while page is not None:
            answer = await _json(session, base + page.lstrip("/"))
            exported += answer["items"]
            page = answer["next"]
        assert exported == [expected(k) for k in kills]
        victim = next(k.esi.victim for k in reversed(kills) if k.esi.victim.corporation_id)
        async with session.get(f"{base}corporations/{victim.corporation_id}/losses") as resp:
            listed = [int(n) for n in re.findall(r'href="/killmails/(\d+)"', await resp.text())]
        losses = [k.killmail_id for k in kills if k.esi.victim.corporation_id == victim.corporation_id]
        assert resp.status == 200 and listed == sorted(losses, reverse=True)[:50]
        async with session.get(f"{base}killmails/{kills[0].killmail_id}") as resp:
            assert resp.status == 200 and f"Kill {kills[0].killmail_id}" in await resp.text()
