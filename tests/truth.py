"""Comparing the database with the simulator's truth, field by field, as ESI names the fields."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.sim.testing import RunningSim
from killreport.store import tables as t

_FLAT = {"tax_rates": ("tax_rate_", ("isk", "loyalty_point")),
         "palette": ("palette_", ("main_color", "secondary_color", "tertiary_color"))}
# The columns no ESI field feeds (the key, cache facts, the scheduler's marks): no truth to compare.
_SKIP: frozenset[str] = frozenset().union(*t.BOOKKEEPING.values())


def _expected_columns(body: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in _FLAT:
            prefix, parts = _FLAT[key]
            for part in parts:
                out[prefix + part] = (value or {}).get(part)
        elif key in ("birthday", "date_founded") and isinstance(value, str):
            out[key] = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            out[key] = value
    return out


def _diff_row(kind: str, entity_id: str, body: Mapping[str, Any], row: Mapping[Any, Any]) -> list[str]:
    expected = _expected_columns(body)
    problems = []
    for column, value in row.items():
        if column in _SKIP:
            continue
        want = expected.get(column)
        if want != value:
            problems.append(f"{kind} {entity_id}.{column}: stored {value!r}, ESI serves {want!r}")
    missing = set(expected) - set(row)
    problems += [f"{kind} {entity_id}: no column for ESI field {m}" for m in sorted(missing)]
    return problems


async def diff_against_truth(engine: AsyncEngine, truth: Mapping[str, Any]) -> list[str]:
    """Every difference between the database and the truth (empty when they are equal).

    With `ever` (`sim.control.truth(ever=True)`), the copy may also hold what the game retired since
    it was stored: every stored entity is compared with its current body there. A tombstoned
    character's kept row is not compared; the tombstones must cover the truth's deleted characters
    and name only characters ever deleted. Without `ever` the truth is all there ever was.
    """
    ever = truth.get("ever", truth)
    async with engine.connect() as conn:
        stored = {kind: {str(r["id"]): r for r in (await conn.execute(select(table))).mappings()}
                  for kind, table in _TABLES.items()}
        members = (await conn.execute(select(t.alliance_corporations))).all()
        tombs = set((await conn.execute(select(t.character_tombstones.c.id))).scalars())
    problems: list[str] = []
    for kind, rows in stored.items():
        kept = {i for i in rows if kind != "characters" or int(i) not in tombs}
        problems += [f"{kind} {i}: missing" for i in sorted(set(truth[kind]) - set(rows))]
        problems += [_unknown(kind, i, ever) for i in sorted(kept - set(ever[kind]))]
        for i in sorted(kept & set(ever[kind])):
            problems += _diff_row(kind, i, ever[kind][i], rows[i])
    problems += _diff_members(members, set(stored["alliances"]), truth, ever)
    problems += _diff_tombstones(tombs, truth, ever)
    return problems


_TABLES = {"alliances": t.alliances, "corporations": t.corporations, "characters": t.characters}


def _unknown(kind: str, entity_id: str, ever: Mapping[str, Any]) -> str:
    if kind == "characters" and int(entity_id) in ever["deleted_characters"]:
        return f"{kind} {entity_id}: deleted in ESI, stored without a tombstone"
    return f"{kind} {entity_id}: not in truth"


def _diff_members(members: Sequence[Any], alliances: set[str], truth: Mapping[str, Any],
                  ever: Mapping[str, Any]) -> list[str]:
    """Member lists of the truth's alliances and of every stored one, as ESI serves them now."""
    stored: dict[str, list[int]] = {}
    for alliance_id, corporation_id in members:
        stored.setdefault(str(alliance_id), []).append(corporation_id)
    now = ever["alliance_corporations"]
    wanted = {**{a: now[a] for a in alliances if a in now}, **truth["alliance_corporations"]}
    problems = [f"alliance {a}: members differ" for a, want in sorted(wanted.items())
                if sorted(stored.get(a, [])) != sorted(want)]
    return problems + [f"alliance {a}: members stored, alliance not in truth"
                       for a in sorted(set(stored) - set(wanted))]


def _diff_tombstones(tombs: set[int], truth: Mapping[str, Any], ever: Mapping[str, Any]) -> list[str]:
    """Every deleted character the truth names is tombstoned, and only characters ever deleted are."""
    wanted, allowed = set(truth["deleted_characters"]), set(ever["deleted_characters"])
    if wanted <= tombs <= allowed:
        return []
    return [f"tombstones differ: stored {len(tombs)}, truth {len(wanted)}; missing "
            f"{sorted(wanted - tombs)[:5]}, not deleted {sorted(tombs - allowed)[:5]}"]


async def until_equal(engine: AsyncEngine, sim: RunningSim, within_s: float, poll_s: float = 0.5) -> float:
    """Seconds until the copy equals the simulator's truth (retired entities included); after
    `within_s`, fail with the differences."""
    started = time.monotonic()
    problems: list[str] = []
    while time.monotonic() - started < within_s:
        problems = await diff_against_truth(engine, await sim.control.truth(ever=True))
        if not problems:
            return time.monotonic() - started
        await asyncio.sleep(poll_s)
    raise AssertionError(f"not equal after {within_s:.0f} s: {problems[:10]}")
