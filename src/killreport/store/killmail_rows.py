"""A Kill as the rows the store keeps, and the ids it names: pure functions, no SQL.

One `killmails` row per kill (zkb's block in its columns, the victim's items whole as JSON) and one
`killmail_participants` row per victim (position 0) and attacker (1..n, ESI's order). ESI omits
absent fields, and so do the items kept: reading them back gives ESI's body.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Final

from killreport.domain.killmail import Attacker, Kill, Victim, Zkb
from killreport.ids import KINDS, Kind, is_special, is_valid_id

Row = dict[str, Any]
# zkb's block: its fields as the model names them, and the column of each (labels kept as a list).
_ZKB_FIELDS: Final = {"location_id": "location_id", "fitted_value": "fitted_value",
                      "dropped_value": "dropped_value", "destroyed_value": "destroyed_value",
                      "total_value": "total_value", "points": "points", "npc": "npc", "solo": "solo",
                      "awox": "awox", "href": "href", "attacker_count": "zkb_attacker_count"}
ZKB_COLUMNS: Final = (*_ZKB_FIELDS.values(), "labels")
# zkb's block as R2Z2 writes it (the model's aliases: `locationID`...) and the column of each; its
# `hash` is the kill's own. attackerCount, which zkb does not always send, is given back apart.
ZKB_NAMES: Final = (*((Zkb.model_fields[name].alias or name, column) for name, column in _ZKB_FIELDS.items()
                      if name != "attacker_count"), ("labels", "labels"), ("hash", "hash"))


def killmail_time(text: str) -> dt.datetime:
    """ESI's killmail_time (RFC 3339, checked by the model) as an aware datetime."""
    return dt.datetime.fromisoformat(text.replace(" ", "T", 1)).astimezone(dt.UTC)


def zkb_row(zkb: Zkb | None, sequence_id: int | None) -> Row:
    """zkb's columns (all None without a block) and the feed number the block came from."""
    if zkb is None:
        return {**dict.fromkeys(ZKB_COLUMNS), "zkb_sequence_id": None}
    values = {column: getattr(zkb, name) for name, column in _ZKB_FIELDS.items()}
    return {**values, "labels": list(zkb.labels), "zkb_sequence_id": sequence_id}


def killmail_row(kill: Kill) -> Row:
    """The `killmails` row of a kill (without `stored_at`, which the database's clock gives)."""
    esi, victim = kill.esi, kill.esi.victim
    position = victim.position
    items = [i.model_dump(mode="json", exclude_none=True) for i in victim.items] if victim.items else None
    return {"killmail_id": kill.killmail_id, "hash": kill.hash,
            "killmail_time": killmail_time(esi.killmail_time),
            "solar_system_id": esi.solar_system_id, "moon_id": esi.moon_id, "war_id": esi.war_id,
            "victim_ship_type_id": victim.ship_type_id, "victim_damage_taken": victim.damage_taken,
            "position_x": position.x if position else None, "position_y": position.y if position else None,
            "position_z": position.z if position else None, "items": items,
            "attacker_count": len(esi.attackers), **zkb_row(kill.zkb, kill.sequence_id),
            "sequence_id": kill.sequence_id, "uploaded_at": kill.uploaded_at, "source": kill.source}


def participant_rows(kill: Kill) -> list[Row]:
    """The victim's row (position 0) and each attacker's, in ESI's order."""
    return [_victim(kill.killmail_id, kill.esi.victim),
            *(_attacker(kill.killmail_id, n, a) for n, a in enumerate(kill.esi.attackers, start=1))]


def _victim(killmail_id: int, victim: Victim) -> Row:
    return {"killmail_id": killmail_id, "position": 0, "is_victim": True, "character_id": victim.character_id,
            "corporation_id": victim.corporation_id, "alliance_id": victim.alliance_id,
            "faction_id": victim.faction_id, "ship_type_id": victim.ship_type_id, "weapon_type_id": None,
            "damage": victim.damage_taken, "final_blow": False, "security_status": None}


def _attacker(killmail_id: int, position: int, attacker: Attacker) -> Row:
    return {"killmail_id": killmail_id, "position": position, "is_victim": False,
            "character_id": attacker.character_id, "corporation_id": attacker.corporation_id,
            "alliance_id": attacker.alliance_id, "faction_id": attacker.faction_id,
            "ship_type_id": attacker.ship_type_id, "weapon_type_id": attacker.weapon_type_id,
            "damage": attacker.damage_done, "final_blow": attacker.final_blow,
            "security_status": attacker.security_status}


def named(participants: Iterable[Row]) -> dict[Kind, list[int]]:
    """The player characters, corporations and alliances the rows name (never NPC or faction ids)."""
    found: dict[Kind, set[int]] = {kind: set() for kind in KINDS}
    for row in participants:
        for kind in KINDS:
            entity_id = row[f"{kind}_id"]
            if entity_id is not None and is_valid_id(entity_id) and not is_special(kind, entity_id):
                found[kind].add(entity_id)
    return {kind: sorted(ids) for kind, ids in found.items()}


def one_per_id(kills: Sequence[Kill]) -> list[Kill]:
    """One kill per killmail id, in first-seen order: the one with the newest zkb block wins."""
    chosen: dict[int, Kill] = {}
    for kill in kills:
        held = chosen.get(kill.killmail_id)
        if held is None or _newer_zkb(kill, held):
            chosen[kill.killmail_id] = kill
    return list(chosen.values())


def _newer_zkb(kill: Kill, than: Kill) -> bool:
    if kill.zkb is None:
        return False
    return than.zkb is None or (kill.sequence_id or -1) >= (than.sequence_id or -1)


def sightings(kills: Iterable[Kill]) -> tuple[list[Row], list[Row]]:
    """What kills say about who was where when: each named corporation with its newest kill time
    (`seen_id`, `seen_at`), and each named pilot as its newest kill shows it (`pilot_id`, `pilot_at`,
    `pilot_corporation`, `pilot_alliance`), by id."""
    corporations: dict[int, dt.datetime] = {}
    pilots: dict[int, Row] = {}
    for kill in kills:
        at = killmail_time(kill.esi.killmail_time)
        for row in participant_rows(kill):
            corporation, pilot = row["corporation_id"], row["character_id"]
            if corporation is not None:
                corporations[corporation] = max(at, corporations.get(corporation, at))
            if pilot is not None and (pilot not in pilots or at > pilots[pilot]["pilot_at"]):
                pilots[pilot] = {"pilot_id": pilot, "pilot_at": at, "pilot_corporation": corporation,
                                 "pilot_alliance": row["alliance_id"]}
    return ([{"seen_id": c, "seen_at": at} for c, at in sorted(corporations.items())],
            [pilots[p] for p in sorted(pilots)])
