"""Comparing the stored kills and the pilots they name with the simulator's truth.

The kills: every published kill is stored once, its rows equal to what the truth's document makes of
it (body, hash and zkb block as the simulator serves them now: a republication's new zkb included).
The pilots: the copy equals the simulator's truth plus every player character, corporation and
alliance the kills name, with the bodies the simulator serves for them now (deleted pilots as
tombstones).
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.domain.killmail import Kill, Package
from killreport.sim import schemas
from killreport.sim.testing import RunningSim
from killreport.store import killmail_rows
from killreport.store import tables as t
from tests.truth import diff_against_truth

# Bookkeeping, not the kill: when it was stored, and which file's zkb and upload time are held.
_BOOKKEEPING = {"stored_at", "zkb_sequence_id", "uploaded_at"}


def expected_kills(documents: Sequence[Mapping[str, Any]]) -> dict[int, Kill]:
    """The kills the truth's documents (R2Z2 packages) are."""
    return {int(d["killmail_id"]): Kill.of(Package.model_validate_json(json.dumps(d))) for d in documents}


async def diff_kills(engine: AsyncEngine, documents: Sequence[Mapping[str, Any]],
                     from_day_files: Collection[int] = ()) -> list[str]:
    """Every difference between the stored kills (and participants) and the truth's; empty: equal.

    `from_day_files`: kills expected from R2Z2's raw day files (a back-fill): their bodies, no zkb."""
    wanted = expected_kills(documents)
    for killmail_id in from_day_files:
        kill = wanted[killmail_id]
        wanted[killmail_id] = Kill(killmail_id, kill.hash, kill.esi, zkb=None, source="history")
    async with engine.connect() as conn:
        rows = {r["killmail_id"]: dict(r) for r in (await conn.execute(select(t.killmails))).mappings()}
        people = (await conn.execute(select(t.killmail_participants)
                                     .order_by(t.killmail_participants.c.killmail_id,
                                               t.killmail_participants.c.position))).mappings().all()
    problems = [f"kill {k}: missing" for k in sorted(set(wanted) - set(rows))]
    problems += [f"kill {k}: stored, never published" for k in sorted(set(rows) - set(wanted))]
    by_kill: dict[int, list[dict[str, Any]]] = {}
    for row in people:
        by_kill.setdefault(row["killmail_id"], []).append(dict(row))
    for killmail_id in sorted(set(wanted) & set(rows)):
        kill = wanted[killmail_id]
        want = {k: v for k, v in killmail_rows.killmail_row(kill).items() if k not in _BOOKKEEPING}
        got = {k: v for k, v in rows[killmail_id].items() if k not in _BOOKKEEPING}
        problems += [f"kill {killmail_id}.{k}: stored {got[k]!r}, published {v!r}"
                     for k, v in want.items() if got.get(k) != v]
        if by_kill.get(killmail_id) != killmail_rows.participant_rows(kill):
            problems.append(f"kill {killmail_id}: participants differ")
    return problems


async def kill_count(engine: AsyncEngine) -> int:
    """How many kills are stored."""
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(t.killmails))).scalar_one())


async def diff_copy_with_named(engine: AsyncEngine, sim: RunningSim, documents: Sequence[Mapping[str, Any]],
                               also: Mapping[str, Collection[int]] | None = None) -> list[str]:
    """Every difference between the copy and the truth plus the player entities the kills name (and
    `also` these, by kind: e.g. the lazy population's the copy reached through a corporation's CEO)."""
    truth = await sim.control.truth(ever=True)
    truth["ever"] = copy.deepcopy(truth["ever"])
    named: dict[str, set[int]] = {"character": set(), "corporation": set(), "alliance": set()}
    for kind, ids in (also or {}).items():
        named[kind].update(ids)
    for kill in expected_kills(documents).values():
        for who, ids in killmail_rows.named(killmail_rows.participant_rows(kill)).items():
            named[who].update(ids)
    problems: list[str] = []
    for kind, wanted in named.items():
        for entity_id in sorted(wanted):
            problems += _add(truth, sim, kind, entity_id)
    return problems + await diff_against_truth(engine, truth)


def _add(truth: dict[str, Any], sim: RunningSim, kind: str, entity_id: int) -> list[str]:
    """Put one named entity's current body (or its deletion) into the truth and its `ever`."""
    state, uni = sim.sim, sim.sim.universe
    if kind == "character":
        char = state.resources.character(entity_id)
        if char is None:
            return [f"character {entity_id}: named on a kill, unknown to the simulator"]
        if char.deleted:
            for part in (truth, truth["ever"]):
                part["deleted_characters"].append(entity_id)
            return []
        body = schemas.character(char, uni.alliance_of_character(char), 2)
        section = "characters"
    elif kind == "corporation":
        corp = uni.corporation(entity_id)  # the lazy population's too
        if corp is None:
            return [f"corporation {entity_id}: named on a kill, unknown to the simulator"]
        body, section = schemas.corporation(corp, 2, state.resources.tax_percent), "corporations"
    else:
        body, section = schemas.alliance(uni.alliances[entity_id]), "alliances"
    for part in (truth, truth["ever"]):
        part[section][str(entity_id)] = body
    return []


# Kills published in rounds, with pauses between (seconds): single kills, small groups, and two bursts
# far faster than any cap the tests set (the follower falls behind, then catches up).
ROUNDS: Final = ((1, 0.5), (3, 2.0), (2, 0.2), (60, 1.0), (1, 3.0), (5, 0.5), (2, 7.0), (8, 0.2), (30, 1.0),
                 (2, 0.5), (1, 0.0))
# A simulator whose feed misbehaves as R2Z2's does: 404s for fresh files, republished kills, kills
# posted late; its own limit well above the tests' caps, so a 429 would mean the cap was not kept.
FEED_OPTIONS: Final[dict[str, Any]] = {"r2z2_stale_share": 0.3, "r2z2_stale_s": 8,
                                       "kill_republish_share": 0.2, "kill_late_share": 0.2, "r2z2_per_s": 100}


async def asked_the_head(sim: RunningSim, within_s: float = 60.0) -> None:
    """Wait until a follower has asked the feed something (its first start reads the head pointer)."""
    for _ in range(int(within_s / 0.1)):
        if (await sim.control.stats())["r2z2"]["requests"]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"nothing asked the feed within {within_s} s")


async def publish_rounds(sim: RunningSim) -> int:
    """Publish ROUNDS; how many kills."""
    total = 0
    for count, pause_s in ROUNDS:
        total += len(await sim.control.publish_kills(count))
        await asyncio.sleep(pause_s)
    return total


async def until_stored(engine: AsyncEngine, sim: RunningSim, within_s: float) -> list[dict[str, Any]]:
    """The truth's kills once the copy holds each of them as published now and every player they
    name; after `within_s`, fail with the differences."""
    deadline, problems = time.monotonic() + within_s, ["nothing compared yet"]
    while time.monotonic() < deadline:
        documents = (await sim.control.kills())["kills"]
        problems = await diff_kills(engine, documents)
        if not problems:
            problems = await diff_copy_with_named(engine, sim, documents)
            if not problems:
                return list(documents)
        await asyncio.sleep(1.0)
    raise AssertionError(f"not equal after {within_s:.0f} s: {problems[:10]}")


def polite(stats: Mapping[str, Any], cap: int) -> list[str]:
    """What the simulator saw that R2Z2's and ESI's etiquette forbid (empty: nothing)."""
    feed = stats["r2z2"]
    problems = []
    if feed["max_per_s"] > cap:
        problems.append(f"{feed['max_per_s']} feed requests within one second (cap {cap})")
    if feed["asked_again_after_404"]["within_6s"]:
        problems.append(f"numbers asked again within 6 s of their 404: {feed['asked_again_after_404']}")
    if feed["by_status"].get("429") or feed["by_status"].get("403"):
        problems.append(f"the feed refused: {feed['by_status']}")
    if stats["limit_violations"]["total"]:
        problems.append(f"ESI limits: {stats['limit_violations']}")
    return problems
