"""What the lookup end-to-end tests of both modes share: ids picked from the simulator, and the checks
of `killreport lookup` and `POST /api/lookup` that do not depend on the mode."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

import aiohttp

from killreport.sim.model import Character
from killreport.sim.roster import ROSTER_BASE
from killreport.sim.testing import RunningSim
from tests.cluster import cli_here

# Answered at once and never queued: EVE System, an NPC corporation, an NPC character, a faction,
# a solar system, a pre-2010 id the copy lacks, and ids no entity can have.
NEVER_QUEUED: Final = {1: "npc", 1000125: "npc", 3000001: "npc", 500001: "faction", 30000142: "invalid",
                       100_000_123: "ambiguous", 0: "invalid", -7: "invalid", 2**31: "invalid"}


def pilots(sim: RunningSim) -> Iterator[tuple[int, Character]]:
    """Living ordinary pilots of player corporations: ids the copy reaches only when asked."""
    starters = set(sim.sim.universe.starter_corporations)
    for k in range(10_000):
        char = sim.sim.resources.character(ROSTER_BASE + k)
        if char is not None and not char.deleted and char.corporation_id not in starters:
            yield ROSTER_BASE + k, char


def ghost(sim: RunningSim) -> int:
    """A character id in the post-2010 range that the simulator does not know: ESI answers 404."""
    return next(i for i in range(90_000_001, 90_100_000) if sim.sim.resources.character(i) is None)


async def lookup(env: Mapping[str, str], *ids: int, wait: float) -> dict[str, Any]:
    """`killreport lookup --json` and its answer, each id's keyed by the id."""
    done = await cli_here(env, "lookup", "--json", "--wait", str(wait), *map(str, ids), timeout_s=wait + 60)
    assert done.code == 0, done
    answer = json.loads(done.out)
    return {**answer, "by_id": {a["id"]: a for a in answer["ids"]}}


def check_never_queued(answer: Mapping[str, Any]) -> None:
    """NPC, faction, ambiguous and invalid ids are answered with their reason, none queued."""
    for entity_id, status in NEVER_QUEUED.items():
        shown = answer["by_id"][entity_id]
        assert shown["status"] == status and shown["reason"], shown


async def post(session: aiohttp.ClientSession, url: str, body: Any, *,
               content_type: str = "application/json") -> tuple[int, Any]:
    """POST a body (JSON unless bytes) and return the status and the decoded JSON answer."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with session.post(url, data=data, headers={"Content-Type": content_type}) as resp:
        return resp.status, await resp.json()


async def check_refusals(session: aiohttp.ClientSession, base: str) -> None:
    """Malformed requests answer 4xx with a JSON error and queue nothing."""
    url = base + "api/lookup"
    for body, status, needle in [
        (b"[90000001,", 400, "not JSON"), (b"\xff\xfe", 400, "not JSON"),
        ({"ids": "90000001"}, 400, "list of ids"), (["90000001"], 400, "ids[0] is not an integer"),
        (list(range(1, 102)), 400, "at most 100 ids"), ([], 400, "at least one id"),
        ({"ids": [90000001], "wait_s": 60}, 400, "from 0 to 10 s"), ({"idz": [1]}, 400, "unknown field"),
    ]:
        got = await post(session, url, body)
        assert got[0] == status and needle in got[1]["error"], (body, got)
    got = await post(session, url, [90000001], content_type="text/plain")
    assert got[0] == 415 and "application/json" in got[1]["error"], got
    async with session.get(url) as resp:
        assert resp.status == 405 and "error" in await resp.json()
