"""KillmailQueries' reads, both stores: one kill in ESI's shape plus zkb, the export in id order, and
kills and losses of a character, corporation or alliance, newest (highest id) first.

Every statement is written once (store/dialects.py gives the id list's idiom) and starts from an
index: the primary keys for a kill and the export, killmail_participants_{who} (who, is_victim,
killmail_id) for an entity's kills and losses; tests/store/test_killmail_plans.py holds each plan.

A kill comes back as ESI's `GET /killmails/{id}/{hash}/` body: absent optional fields left out,
attackers in ESI's order, the victim's items whole as stored, `killmail_time` as ESI writes it
(`2026-12-07T12:34:56Z`); plus `zkb` as R2Z2 writes it (`locationID`, `fittedValue`, ...), or None
for a kill no zkb block came with. Summary rows (`involving`, `recent`) are plain values, times as
aware datetimes, for the web's listings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, Subquery, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store import dialects
from killreport.store import tables as t
from killreport.store.killmail_rows import ZKB_NAMES
from killreport.store.lookup import Row

_K: Final = t.killmails
_P: Final = t.killmail_participants
_WHO: Final = ("character_id", "corporation_id", "alliance_id")
_VICTIM_IDS: Final = (*_WHO, "faction_id")
_ATTACKER_IDS: Final = (*_WHO, "faction_id", "ship_type_id", "weapon_type_id")
_SUMMARY_KILL: Final = ("killmail_id", "killmail_time", "solar_system_id", "victim_ship_type_id",
                        "attacker_count", "total_value", "points", "npc", "solo", "awox", "labels")
_SIDE: Final = (*_WHO, "ship_type_id")


def esi_time(value: dt.datetime) -> str:
    """A time as ESI writes a killmail's: UTC, `Z`, to the second (a fraction only if there is one)."""
    spec = "microseconds" if value.microsecond else "seconds"
    return value.astimezone(dt.UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def _present(row: Mapping[str, Any], names: Iterable[str]) -> Row:
    return {name: row[name] for name in names if row[name] is not None}


def _victim(kill: Mapping[str, Any], victim: Mapping[str, Any]) -> Row:
    body: Row = {"damage_taken": kill["victim_damage_taken"], "ship_type_id": kill["victim_ship_type_id"],
                 **_present(victim, _VICTIM_IDS)}
    if kill["items"] is not None:
        body["items"] = kill["items"]
    if None not in (kill["position_x"], kill["position_y"], kill["position_z"]):
        body["position"] = {axis: kill[f"position_{axis}"] for axis in "xyz"}
    return body


def _attacker(row: Mapping[str, Any]) -> Row:
    return {"damage_done": row["damage"], "final_blow": row["final_blow"],
            "security_status": row["security_status"], **_present(row, _ATTACKER_IDS)}


def _zkb(kill: Mapping[str, Any]) -> Row | None:
    # A kill stored without zkb (back-filled from a raw day file or ESI) has none of its columns.
    if kill["location_id"] is None:
        return None
    block = {name: kill[column] for name, column in ZKB_NAMES}
    # zkb sends attackerCount on most kills, not all: given back only when it came.
    if kill["zkb_attacker_count"] is not None:
        block["attackerCount"] = kill["zkb_attacker_count"]
    return block


def _body(kill: Mapping[str, Any], participants: Sequence[Mapping[str, Any]]) -> Row:
    """A kill in ESI's shape plus `zkb`, from its killmails row and its participants by position."""
    victim = next((p for p in participants if p["position"] == 0), None)
    if victim is None:
        raise LookupError(f"killmail {kill['killmail_id']} is stored without its victim")
    body: Row = {"killmail_id": kill["killmail_id"], "killmail_time": esi_time(kill["killmail_time"]),
                 "solar_system_id": kill["solar_system_id"], **_present(kill, ("moon_id", "war_id")),
                 "victim": _victim(kill, victim),
                 "attackers": [_attacker(p) for p in participants if p["position"] > 0]}
    return {**body, "zkb": _zkb(kill)}


def kill_statement(killmail_id: int) -> Select[Any]:
    """The killmails row of one kill (its primary key)."""
    return select(_K).where(_K.c.killmail_id == killmail_id)


def participants_statement(idioms: dialects.Idioms) -> Select[Any]:
    """The participants of the kills bound as `ids`, by kill and position (the primary key, per id)."""
    return (select(_P).where(_P.c.killmail_id.in_(select(idioms.ids("ids"))))
            .order_by(_P.c.killmail_id, _P.c.position))


async def _participants(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, list[Row]]:
    """The participants of kills `ids`, by kill, each list in position order."""
    found: dict[int, list[Row]] = {i: [] for i in ids}
    if ids:
        idioms = dialects.of(conn)
        rows = await conn.execute(participants_statement(idioms), {"ids": idioms.id_list(ids)})
        for row in rows.mappings():
            found[row["killmail_id"]].append(dict(row))
    return found


async def killmail(conn: AsyncConnection, killmail_id: int) -> Row | None:
    """A kill in ESI's shape plus `zkb` (None when no zkb block came with it), or None if not held."""
    kill = (await conn.execute(kill_statement(killmail_id))).mappings().first()
    if kill is None:
        return None
    participants = await _participants(conn, [killmail_id])
    return _body(kill, participants[killmail_id])


def _involved(kind: Kind, entity_id: int, victim: bool) -> list[ColumnElement[bool]]:
    """Rows naming `entity_id` as `kind`, on one side: the prefix of its index."""
    return [_P.c[f"{kind}_id"] == entity_id, _P.c.is_victim == victim]


def export_ids_statement(after: int, limit: int, kind: Kind, entity_id: int, victim: bool) -> Select[Any]:
    """The first `limit` kills above `after` naming `entity_id` as `kind` on one side, ascending."""
    return (select(_P.c.killmail_id).where(*_involved(kind, entity_id, victim), _P.c.killmail_id > after)
            .distinct().order_by(_P.c.killmail_id).limit(limit))


def export_statement(after: int, limit: int) -> Select[Any]:
    """Kills above `after`, ascending, `limit` of them (the primary key)."""
    return select(_K).where(_K.c.killmail_id > after).order_by(_K.c.killmail_id).limit(limit)


def listed_statement(idioms: dialects.Idioms) -> Select[Any]:
    """The kills bound as `ids`, ascending (the primary key, per id)."""
    return select(_K).where(_K.c.killmail_id.in_(select(idioms.ids("ids")))).order_by(_K.c.killmail_id)


async def _filtered_ids(conn: AsyncConnection, after: int, limit: int, kind: Kind,
                        entity_id: int) -> list[int]:
    # A side each, both read from the index in id order: a kill naming the entity on both sides
    # (an awox) or on several attackers counts once.
    found: set[int] = set()
    for victim in (False, True):
        rows = await conn.execute(export_ids_statement(after, limit, kind, entity_id, victim))
        found.update(rows.scalars())
    return sorted(found)[:limit]


async def export(conn: AsyncConnection, *, after: int, limit: int, kind: Kind | None = None,
                 entity_id: int | None = None) -> list[Row]:
    """Kills with ids above `after`, ascending, in `killmail`'s shape; only those naming `entity_id`
    as `kind` (victim or attacker) when both are given."""
    if (kind is None) != (entity_id is None):
        raise ValueError("export filters by a kind and an id together, or by neither")
    if kind is None or entity_id is None:
        result = await conn.execute(export_statement(after, limit))
    else:
        idioms = dialects.of(conn)
        ids = await _filtered_ids(conn, after, limit, kind, entity_id)
        result = await conn.execute(listed_statement(idioms), {"ids": idioms.id_list(ids)})
    kills = [dict(r) for r in result.mappings()]
    participants = await _participants(conn, [k["killmail_id"] for k in kills])
    return [_body(k, participants[k["killmail_id"]]) for k in kills]


def involving_ids(kind: Kind, entity_id: int, *, losses: bool, before: int | None, limit: int) -> Subquery:
    """The newest `limit` kills (or losses) of `entity_id` as `kind` below `before`: the index, backward."""
    query = select(_P.c.killmail_id).where(*_involved(kind, entity_id, losses))
    if before is not None:
        query = query.where(_P.c.killmail_id < before)
    return query.distinct().order_by(_P.c.killmail_id.desc()).limit(limit).subquery("page")


def recent_ids(limit: int) -> Subquery:
    """The newest `limit` kills: the primary key, backward."""
    return select(_K.c.killmail_id).order_by(_K.c.killmail_id.desc()).limit(limit).subquery("page")


def summary_statement(page: Subquery) -> Select[Any]:
    """The kills of `page`, newest first, each with its victim and the attacker of the final blow."""
    victim, blow, other = _P.alias("victim"), _P.alias("blow"), _P.alias("other")
    # ESI marks one attacker's final blow; should a kill mark several, the first one listed is shown.
    first_blow = (select(func.min(other.c.position))
                  .where(other.c.killmail_id == _K.c.killmail_id, other.c.position > 0, other.c.final_blow)
                  .scalar_subquery())
    return (select(*(_K.c[name] for name in _SUMMARY_KILL),
                   *(victim.c[name].label(f"victim_{name}") for name in _WHO),
                   *(blow.c[name].label(f"blow_{name}") for name in _SIDE))
            .select_from(page.join(_K, _K.c.killmail_id == page.c.killmail_id)
                         .join(victim, (victim.c.killmail_id == _K.c.killmail_id) & (victim.c.position == 0))
                         .outerjoin(blow, (blow.c.killmail_id == _K.c.killmail_id)
                                    & (blow.c.position == first_blow)))
            .order_by(_K.c.killmail_id.desc()))


def _summary(row: Mapping[str, Any]) -> Row:
    kill: Row = {name: row[name] for name in _SUMMARY_KILL}
    kill["victim"] = {"ship_type_id": kill.pop("victim_ship_type_id"),
                      **{name: row[f"victim_{name}"] for name in _WHO}}
    blow = {name: row[f"blow_{name}"] for name in _SIDE}
    kill["final_blow"] = blow if any(v is not None for v in blow.values()) else None
    return kill


async def _summaries(conn: AsyncConnection, page: Subquery) -> list[Row]:
    return [_summary(r) for r in (await conn.execute(summary_statement(page))).mappings()]


async def involving(conn: AsyncConnection, kind: Kind, entity_id: int, *, losses: bool,
                    before: int | None, limit: int) -> list[Row]:
    """Kills (`losses`: deaths) of a character, corporation or alliance, newest first, ids below
    `before` (None: from the newest): summary rows as `recent` gives them."""
    return await _summaries(conn, involving_ids(kind, entity_id, losses=losses, before=before, limit=limit))


async def recent(conn: AsyncConnection, limit: int) -> list[Row]:
    """The newest kills, newest first, as summary rows: killmail_id, killmail_time, solar_system_id,
    attacker_count, zkb's total_value, points, npc, solo, awox and labels (None without zkb), the
    victim (character, corporation, alliance and ship ids) and the final blow's attacker (the same,
    or None when ESI marked none)."""
    return await _summaries(conn, recent_ids(limit))
