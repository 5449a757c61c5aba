"""Render entities as ESI bodies, choosing the schema by compatibility date."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Final

from killreport.sim.model import Alliance, Character, Corporation, HistoryRow, Universe, iso

OLDEST_DATE: Final = "2020-01-01"
CURRENT_DATE: Final = "2026-08-18"
CORPORATION_V2_FROM: Final = "2026-07-21"
CHARACTER_V2_FROM: Final = "2026-06-09"
# A choice: the spec only says current error bodies carry `status`; we add it from the latest schema change.
ERROR_STATUS_FROM: Final = CHARACTER_V2_FROM
_DATE_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Body = dict[str, Any]


def parse_compat_date(text: str | None) -> str | None:
    """The compatibility date as `YYYY-MM-DD`, the oldest when absent, or None when malformed."""
    if text is None or text == "":
        return OLDEST_DATE
    if not _DATE_RE.match(text):
        return None
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return None
    return text


def variant(route: str, date: str) -> int:
    """Which schema a route serves at `date`: 1 for the old one, 2 for the new one."""
    if route == "corporation":
        return 2 if date >= CORPORATION_V2_FROM else 1
    if route == "character":
        return 2 if date >= CHARACTER_V2_FROM else 1
    return 1


def error_body(message: str, status: int, date: str) -> Body:
    """An ESI error body; current schemas add the status code."""
    if date >= ERROR_STATUS_FROM:
        return {"error": message, "status": status}
    return {"error": message}


def alliance(a: Alliance) -> Body:
    """`GET /alliances/{id}` (one schema at every date)."""
    body: Body = {"name": a.name, "ticker": a.ticker, "creator_id": a.creator_id,
                  "creator_corporation_id": a.creator_corporation_id, "date_founded": a.date_founded}
    _put(body, "executor_corporation_id", a.executor_corporation_id)
    _put(body, "faction_id", a.faction_id)
    return body


def corporation(c: Corporation, v: int, tax_percent: bool) -> Body:
    """`GET /corporations/{id}` in schema `v`; `tax_percent` picks how v2 writes `tax_rates`."""
    body: Body = {"name": c.name, "ticker": c.ticker, "member_count": c.member_count}
    if v == 1:
        body.update(ceo_id=c.ceo_id, creator_id=c.creator_id, tax_rate=c.tax_rate)
        for key in ("alliance_id", "date_founded", "description", "faction_id", "home_station_id", "shares",
                    "url", "war_eligible"):
            _put(body, key, getattr(c, key))
        return body
    scale = 100.0 if tax_percent else 1.0
    body.update(
        tax_rates={"isk": round(c.tax_rate * scale, 4), "loyalty_point": round(c.lp_tax_rate * scale, 4)},
        state="closed" if c.closed else "active", type="npc_owned" if c.npc else "player_owned",
        friendly_fire=c.friendly_fire, description=c.description or "",
        home_station_id=c.home_station_id or 60_000_004, shares=c.shares or 0,
        war_eligible=bool(c.war_eligible))
    body["ceo_id"] = c.ceo_id
    if not c.npc:
        body["creator_id"] = c.creator_id  # NPC corporations have no creator: v2 drops the field
    for key in ("alliance_id", "date_founded", "url", "palette"):
        _put(body, key, getattr(c, key))
    _put(body, "enlisted_faction_id", c.faction_id)
    return body


def character(ch: Character, alliance_id: int | None, v: int) -> Body:
    """`GET /characters/{id}` in schema `v`."""
    body: Body = {"name": ch.name, "birthday": ch.birthday, "bloodline_id": ch.bloodline_id,
                  "race_id": ch.race_id, "corporation_id": ch.corporation_id, "gender": ch.gender}
    _put(body, "alliance_id", alliance_id)
    for key in ("faction_id", "description", "security_status"):
        _put(body, key, getattr(ch, key))
    if v == 1:
        _put(body, "title", ch.title)
        return body
    body["achievement_score"] = ch.achievement_score
    _put(body, "corporation_title", ch.title)
    _put(body, "character_title_id", ch.title_id)
    return body


def alliance_history(uni: Universe, rows: list[HistoryRow]) -> list[Body]:
    """`GET /corporations/{id}/alliancehistory`, newest first."""
    out: list[Body] = []
    for record_id, start, alliance_id in reversed(rows):
        row: Body = {"record_id": record_id, "start_date": iso(start)}
        if alliance_id is not None:
            row["alliance_id"] = alliance_id
            found = uni.alliances.get(alliance_id)
            if found is None or found.closed:
                row["is_deleted"] = True
        out.append(row)
    return out


def corporation_history(uni: Universe, rows: list[HistoryRow]) -> list[Body]:
    """`GET /characters/{id}/corporationhistory`, newest first."""
    out: list[Body] = []
    for record_id, start, corp_id in reversed(rows):
        row: Body = {"record_id": record_id, "start_date": iso(start), "corporation_id": corp_id}
        found = uni.corporation(corp_id or 0)
        if found is None or found.closed:
            row["is_deleted"] = True
        out.append(row)
    return out


def _put(body: Body, key: str, value: object) -> None:
    if value is not None:
        body[key] = value
