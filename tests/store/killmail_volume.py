"""Many kills in a migrated database, inserted as plain rows, for the killmail query plans' tests.

A planner chooses by the table's size and statistics: a handful of kills would be read whole
whatever the indexes. These rows stand in for a busy copy: thousands of kills, ten participants
each, drawn from a few thousand pilots, a few hundred corporations and tens of alliances (NPC
attackers with no character, some pilots with no alliance). Rows go in directly, many at a time:
the plans read columns, not how they were written.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, Final

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.store import tables as t

KILLS: Final = 25_000
FIRST_ID: Final = 120_000_001
PILOTS: Final = range(90_000_001, 90_003_001)
CORPORATIONS: Final = range(98_000_001, 98_000_301)
ALLIANCES: Final = range(99_000_001, 99_000_041)
T0: Final = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _who(rng: random.Random) -> dict[str, Any]:
    pilot = rng.choice(PILOTS)
    corporation = CORPORATIONS[pilot % len(CORPORATIONS)]
    alliance = ALLIANCES[corporation % len(ALLIANCES)] if corporation % 3 else None
    if rng.random() < 0.1:  # an NPC: no character, no alliance
        return {"character_id": None, "corporation_id": 1_000_125, "alliance_id": None}
    return {"character_id": pilot, "corporation_id": corporation, "alliance_id": alliance}


def _participants(rng: random.Random, killmail_id: int, count: int) -> list[dict[str, Any]]:
    rows = []
    for position in range(count + 1):
        rows.append({"killmail_id": killmail_id, "position": position, "is_victim": position == 0,
                     **_who(rng), "faction_id": None, "ship_type_id": 587, "weapon_type_id": None,
                     "damage": 100, "final_blow": position == 1, "security_status": None})
    return rows


def _kill(killmail_id: int, count: int) -> dict[str, Any]:
    return {"killmail_id": killmail_id, "hash": f"{killmail_id:040x}",
            "killmail_time": T0 + dt.timedelta(seconds=killmail_id - FIRST_ID), "solar_system_id": 30000142,
            "moon_id": None, "war_id": None, "victim_ship_type_id": 587, "victim_damage_taken": 100 * count,
            "position_x": None, "position_y": None, "position_z": None, "items": None,
            "attacker_count": count, "location_id": None, "fitted_value": None, "dropped_value": None,
            "destroyed_value": None, "total_value": None, "points": None, "npc": None, "solo": None,
            "awox": None, "labels": None, "href": None, "sequence_id": None, "zkb_sequence_id": None,
            "uploaded_at": None, "source": "esi", "stored_at": T0}


async def fill(conn: AsyncConnection) -> None:
    """Insert KILLS kills with their participants, then ANALYZE so the planner knows the sizes."""
    rng = random.Random(23)
    kills, participants = [], []
    for killmail_id in range(FIRST_ID, FIRST_ID + KILLS):
        count = rng.randint(1, 18)
        kills.append(_kill(killmail_id, count))
        participants.extend(_participants(rng, killmail_id, count))
    await conn.execute(insert(t.killmails), kills)
    await conn.execute(insert(t.killmail_participants), participants)
    await conn.execute(text("ANALYZE"))
