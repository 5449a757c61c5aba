"""Kills for tests, built with the domain's models: a killmail from its victim and attackers, zkb's block.

`kill(...)` gives a `Kill` as the feed would hand it to `store.killmails.save`; the helpers fill
what a test does not care about with plain values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from killreport.domain.killmail import Kill, Killmail, Source, Zkb

T0 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
JITA = 30000142


def who(character: int | None = None, corporation: int | None = None, alliance: int | None = None,
        faction: int | None = None) -> dict[str, int]:
    """A side's ids, the absent ones left out (as ESI leaves them out)."""
    ids = {"character_id": character, "corporation_id": corporation, "alliance_id": alliance,
           "faction_id": faction}
    return {k: v for k, v in ids.items() if v is not None}


def attacker(ids: dict[str, int], *, final: bool = False, damage: int = 100, ship: int | None = 587,
             weapon: int | None = 3082, security: float = -1.5) -> dict[str, Any]:
    """An attacker (an NPC when `ids` names no character; ship and weapon None to leave them out)."""
    row: dict[str, Any] = {**ids, "damage_done": damage, "final_blow": final, "security_status": security}
    if ship is not None:
        row["ship_type_id"] = ship
    if weapon is not None:
        row["weapon_type_id"] = weapon
    return row


def killmail_hash(killmail_id: int) -> str:
    """A killmail's hash: 40 hex digits fixed by its id."""
    return hashlib.sha1(str(killmail_id).encode()).hexdigest()


def body(killmail_id: int, victim: dict[str, int], attackers: Sequence[dict[str, Any]], *,
         at: dt.datetime | None = None, ship: int = 670, extra: dict[str, Any] | None = None,
         victim_extra: dict[str, Any] | None = None) -> Killmail:
    """An ESI killmail: `extra` adds top-level fields (moon_id, war_id), `victim_extra` victim fields
    (items, position)."""
    when = at or T0 + dt.timedelta(minutes=killmail_id % 100_000)
    damage = sum(int(a["damage_done"]) for a in attackers)
    # As JSON, the way the feed's bodies are read (the strict models take no lists for tuples otherwise).
    return Killmail.model_validate_json(json.dumps({
        "killmail_id": killmail_id, "killmail_time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "solar_system_id": JITA, "attackers": list(attackers),
        "victim": {**victim, "ship_type_id": ship, "damage_taken": damage, **(victim_extra or {})},
        **(extra or {})}))


def zkb(esi: Killmail, *, total: float = 1_500_000.5, labels: Sequence[str] = ("pvp", "loc:highsec"),
        href: str | None = None, counted: bool = True) -> Zkb:
    """zKillboard's block for `esi` (with attackerCount unless not `counted`: R2Z2 mostly sends it)."""
    block = {
        "locationID": 40_000_001, "hash": killmail_hash(esi.killmail_id), "fittedValue": total / 2,
        "droppedValue": total / 4, "destroyedValue": total * 3 / 4, "totalValue": total, "points": 7,
        "npc": False, "solo": len(esi.attackers) == 1, "awox": False, "labels": list(labels),
        "href": href or f"https://esi.evetech.net/v1/killmails/{esi.killmail_id}/{killmail_hash(esi.killmail_id)}/",
        "attackerCount": len(esi.attackers)}
    if not counted:
        del block["attackerCount"]
    return Zkb.model_validate_json(json.dumps(block))


def kill(esi: Killmail, block: Zkb | None = None, *, source: Source = "feed",
         sequence_id: int | None = None) -> Kill:
    """The `Kill` of `esi` with zkb's `block` (None: a kill from a day file or ESI, with none)."""
    return Kill(killmail_id=esi.killmail_id, hash=killmail_hash(esi.killmail_id), esi=esi, zkb=block,
                source=source, sequence_id=sequence_id,
                uploaded_at=None if sequence_id is None else 1_764_500_000 + sequence_id)


def expected(k: Kill) -> dict[str, Any]:
    """What `store.killmails.killmail` and the API give for `k`: ESI's shape plus R2Z2's zkb."""
    shown = k.esi.model_dump(mode="json", exclude_none=True)
    # attackerCount is the one optional field of zkb: left out when zkb did not send it.
    block = None if k.zkb is None else k.zkb.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {**shown, "zkb": block}
