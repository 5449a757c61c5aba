"""Comparing the database with the simulator's truth, field by field, as ESI names the fields."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.store import tables as t

_FLAT = {"tax_rates": ("tax_rate_", ("isk", "loyalty_point")),
         "palette": ("palette_", ("main_color", "secondary_color", "tertiary_color"))}
_SKIP = {"id", "fetched_at", "expires_at", "etag", "last_modified", "checked_at", "members_fetched_at",
         "members_expires_at", "members_etag", "members_last_modified", "members_checked_at",
         "closed_at"}


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
    """Every difference between the database and the truth (empty when they are equal)."""
    problems: list[str] = []
    async with engine.connect() as conn:
        for kind, table in (("alliances", t.alliances), ("corporations", t.corporations),
                            ("characters", t.characters)):
            rows = {str(r["id"]): r for r in (await conn.execute(select(table))).mappings()}
            want = truth[kind]
            problems += [f"{kind} {i}: missing" for i in sorted(set(want) - set(rows))]
            problems += [f"{kind} {i}: not in truth" for i in sorted(set(rows) - set(want))]
            for i in sorted(set(want) & set(rows)):
                problems += _diff_row(kind, i, want[i], rows[i])
        members = (await conn.execute(select(t.alliance_corporations))).all()
        tombs = (await conn.execute(select(t.character_tombstones.c.id))).scalars().all()
    stored_members: dict[str, list[int]] = {}
    for alliance_id, corporation_id in members:
        stored_members.setdefault(str(alliance_id), []).append(corporation_id)
    for alliance_id, want_members in truth["alliance_corporations"].items():
        if sorted(stored_members.get(alliance_id, [])) != sorted(want_members):
            problems.append(f"alliance {alliance_id}: members differ")
    if sorted(tombs) != sorted(truth["deleted_characters"]):
        problems.append(f"tombstones differ: stored {len(tombs)}, truth {len(truth['deleted_characters'])}")
    return problems
