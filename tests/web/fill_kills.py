"""Kills for the web's tests, kept through the store's own `save` (as the feed keeps them).

They name fill.scenario's pilots (The Mittani, Vile Rat, Test Pilot), a pilot the copy does not
hold, and NPCs; one kill carries hostile zkb labels (zkb's labels may hold anything), one has no zkb
block, and Vile Rat dies often enough to page his losses twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain.killmail import Kill
from killreport.sim import strings
from killreport.store import killmails
from tests.kill_bodies import attacker, body, kill, who, zkb
from tests.web.fill import PWNED, Hostile

MITTANI: Final = who(90000001, 98000001, 99000001)
VILE_RAT: Final = who(90000002, 98000001, 99000001)
TEST_PILOT: Final = who(90000003, 1000167)  # in an NPC corporation
STRANGER: Final = who(90_777_777, 98_777_777)  # not in the copy
NPC: Final = who(None, 1_000_125, None, 500_001)
# fill.hostile's first pilot: named with the first of the simulator's hostile names.
HOSTILE_PILOT: Final = who(90_100_000, 98_100_000, 99_100_000)
HOSTILE_KILL: Final = 125_000_001
BARE_KILL: Final = 125_000_002
VILE_RAT_LOSSES: Final = range(125_000_100, 125_000_160)  # 60: an entity page, then two list pages
HOSTILE_LABELS: Final = (*PWNED, *strings.HOSTILE_NAMES[:6])


@dataclass
class Kills:
    """The kills kept, by id."""

    by_id: dict[int, Kill] = field(default_factory=dict)


def _hostile() -> Kill:
    attackers = [attacker(TEST_PILOT, damage=4000), attacker(NPC, ship=13537, weapon=None),
                 attacker(HOSTILE_PILOT, damage=50), attacker(STRANGER, final=True, damage=10)]
    esi = body(HOSTILE_KILL, MITTANI, attackers,
               extra={"moon_id": 40_009_082}, victim_extra={
                   "items": [{"flag": 27, "item_type_id": 3082, "singleton": 0, "quantity_destroyed": 1}]})
    return kill(esi, zkb(esi, total=123_456_789.25, labels=HOSTILE_LABELS, href=PWNED[5]), sequence_id=1)


def _bare() -> Kill:
    esi = body(BARE_KILL, STRANGER, [attacker(VILE_RAT, final=True)])
    return kill(esi, None, source="history")


def _losses() -> list[Kill]:
    made = []
    for killmail_id in VILE_RAT_LOSSES:
        esi = body(killmail_id, VILE_RAT, [attacker(MITTANI, final=True), attacker(TEST_PILOT)])
        made.append(kill(esi, zkb(esi, total=float(killmail_id % 1000))))
    return made


async def kills(conn: AsyncConnection, hostile: Hostile) -> Kills:
    """Keep the kills (the entities they name join the pending set, unpublished, as after any save);
    note in `hostile` that the hostile kill's page shows its labels and its hostile pilot's name."""
    made = [_hostile(), _bare(), *_losses()]
    await killmails.save(conn, made)
    hostile.add(f"/killmails/{HOSTILE_KILL}", *HOSTILE_LABELS, strings.HOSTILE_NAMES[0])
    return Kills({k.killmail_id: k for k in made})
