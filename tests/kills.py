"""Kills for tests, built with the domain models: who is on them is chosen by the test."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from killreport.domain.killmail import Kill, Killmail, Source, Zkb

FACTION = 500_001  # a faction id: never queued
NPC_CORPORATION = 1_000_125  # an NPC corporation: never queued


def zkb(killmail_id: int, *, total: float = 1_000_000.0, labels: Sequence[str] = ("pvp",),
        attacker_count: int | None = None) -> Zkb:
    """A zkb block whose values derive from `total`."""
    block: dict[str, Any] = {
        "locationID": 40_000_001, "hash": f"h{killmail_id}", "fittedValue": total / 2,
        "droppedValue": total / 4, "destroyedValue": total * 3 / 4, "totalValue": total,
        "points": 10, "npc": False, "solo": False,
        "awox": False, "labels": list(labels), "href": f"https://esi.invalid/killmails/{killmail_id}/"}
    if attacker_count is not None:
        block["attackerCount"] = attacker_count
    return Zkb.model_validate_json(json.dumps(block))


def body(killmail_id: int, victim: dict[str, int], attackers: Sequence[dict[str, Any]], *,
         time: str = "2026-12-01T12:00:00Z", items: bool = True) -> Killmail:
    """An ESI killmail: `victim` and `attackers` name who (character_id, corporation_id...)."""
    out: dict[str, Any] = {
        "killmail_id": killmail_id, "killmail_time": time, "solar_system_id": 30_000_142,
        "victim": {"damage_taken": 500, "ship_type_id": 587, **victim,
                   "position": {"x": 1.5, "y": -2.0, "z": 3e12}},
        "attackers": [{"damage_done": 100, "final_blow": n == 0, "security_status": -1.5, **a}
                      for n, a in enumerate(attackers)]}
    if items:
        out["victim"]["items"] = [{"flag": 27, "item_type_id": 3001, "singleton": 0, "quantity_dropped": 1,
                                   "items": [{"flag": 5, "item_type_id": 215, "singleton": 0,
                                              "quantity_destroyed": 100}]}]
    return Killmail.model_validate_json(json.dumps(out))


def kill(killmail_id: int, victim: dict[str, int], attackers: Sequence[dict[str, Any]], *,
         source: Source = "feed", sequence_id: int | None = None, with_zkb: bool = True,
         time: str = "2026-12-01T12:00:00Z", total: float = 1_000_000.0) -> Kill:
    """A Kill as the feed (zkb and a sequence number) or a back-fill (neither) would give it."""
    feed = source == "feed"
    esi = body(killmail_id, victim, attackers, time=time)
    return Kill(killmail_id=killmail_id, hash=f"h{killmail_id}", esi=esi,
                zkb=zkb(killmail_id, total=total) if with_zkb else None, source=source,
                sequence_id=sequence_id if sequence_id is not None else (killmail_id if feed else None),
                uploaded_at=1_796_000_000 + killmail_id if feed else None)
