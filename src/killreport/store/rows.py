"""Pure mapping from ESI bodies (pinned 2026-08-18 field names) to table rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

_ALLIANCE = (
    "name",
    "ticker",
    "creator_id",
    "creator_corporation_id",
    "date_founded",
    "executor_corporation_id",
    "faction_id",
)
_CORPORATION = (
    "name",
    "ticker",
    "member_count",
    "alliance_id",
    "ceo_id",
    "creator_id",
    "date_founded",
    "description",
    "enlisted_faction_id",
    "friendly_fire",
    "home_station_id",
    "shares",
    "state",
    "type",
    "url",
    "war_eligible",
)
_CHARACTER = (
    "name",
    "birthday",
    "bloodline_id",
    "race_id",
    "corporation_id",
    "gender",
    "achievement_score",
    "alliance_id",
    "faction_id",
    "description",
    "security_status",
    "corporation_title",
    "character_title_id",
)
_DATES = frozenset({"date_founded", "birthday"})

Row = dict[str, Any]


def as_datetime(value: Any) -> Any:
    """Parse an ESI date-time string; anything else passes through unchanged."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def _pick(body: Mapping[str, Any], fields: tuple[str, ...]) -> Row:
    return {f: as_datetime(body.get(f)) if f in _DATES else body.get(f) for f in fields}


def alliance_row(body: Mapping[str, Any]) -> Row:
    """Columns of `alliances` from a GET /alliances/{id} body."""
    return _pick(body, _ALLIANCE)


def corporation_row(body: Mapping[str, Any]) -> Row:
    """Columns of `corporations`, with tax_rates and palette flattened."""
    row = _pick(body, _CORPORATION)
    tax = body.get("tax_rates") or {}
    row["tax_rate_isk"] = tax.get("isk")
    row["tax_rate_loyalty_point"] = tax.get("loyalty_point")
    palette = body.get("palette") or {}
    for part in ("main", "secondary", "tertiary"):
        row[f"palette_{part}_color"] = palette.get(f"{part}_color")
    return row


def character_row(body: Mapping[str, Any]) -> Row:
    """Columns of `characters` from a GET /characters/{id} body."""
    row = _pick(body, _CHARACTER)
    if row["character_title_id"] is not None:
        row["character_title_id"] = str(row["character_title_id"])
    return row
