"""ESI's killmail (GET /killmails/{id}/{hash}/, the 2026-08-18 schema) and zKillboard's R2Z2 package.

Strict like domain/models.py: ids are JSON int64s, numbers never strings or NaN, unknown fields ignored.
Items are kept whole, nested items included. A package is read in two steps (r2z2/parse.py): its
envelope first (numbers and hash, whatever `esi` and `zkb` hold), then `esi` and `zkb` against their
models, so a package whose killmail fails the schema is still known by number and kept aside with the
reason (Rejected) instead of being lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from killreport.domain.models import Id, Number

# RFC 3339; a space may stand for the `T` (RFC 3339 allows it, and CCP's own example uses one).
_TIME = Field(pattern=r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, allow_inf_nan=False)


class Position(_Model):
    """Where the victim died, in metres from the system's sun."""

    x: Number
    y: Number
    z: Number


class ContainedItem(_Model):
    """An item inside another (a container's content)."""

    flag: Id
    item_type_id: Id
    singleton: Id
    quantity_destroyed: Id | None = None
    quantity_dropped: Id | None = None


class Item(_Model):
    """An item the victim carried, with what it contained."""

    flag: Id
    item_type_id: Id
    singleton: Id
    quantity_destroyed: Id | None = None
    quantity_dropped: Id | None = None
    items: tuple[ContainedItem, ...] | None = None


class Victim(_Model):
    """Who (or which structure) died, in what, and what it carried."""

    damage_taken: Id
    ship_type_id: Id
    alliance_id: Id | None = None
    character_id: Id | None = None
    corporation_id: Id | None = None
    faction_id: Id | None = None
    items: tuple[Item, ...] | None = None
    position: Position | None = None


class Attacker(_Model):
    """One attacker: a character, or an NPC (no character_id)."""

    damage_done: Id
    final_blow: StrictBool
    security_status: Number
    alliance_id: Id | None = None
    character_id: Id | None = None
    corporation_id: Id | None = None
    faction_id: Id | None = None
    ship_type_id: Id | None = None
    weapon_type_id: Id | None = None


class Killmail(_Model):
    """GET /killmails/{killmail_id}/{killmail_hash}/: the body never changes once written."""

    attackers: tuple[Attacker, ...]
    killmail_id: Id
    killmail_time: StrictStr = _TIME
    solar_system_id: Id
    victim: Victim
    moon_id: Id | None = None
    war_id: Id | None = None


class Zkb(_Model):
    """zKillboard's block: where, what it was worth, points and labels. Changes when re-priced."""

    location_id: Id = Field(alias="locationID")
    hash: StrictStr
    fitted_value: Number = Field(alias="fittedValue")
    dropped_value: Number = Field(alias="droppedValue")
    destroyed_value: Number = Field(alias="destroyedValue")
    total_value: Number = Field(alias="totalValue")
    points: Id
    npc: StrictBool
    solo: StrictBool
    awox: StrictBool
    labels: tuple[StrictStr, ...]
    href: StrictStr
    attacker_count: Id | None = Field(default=None, alias="attackerCount")


class Envelope(_Model):
    """An R2Z2 package read only as far as its numbers: enough to keep it aside if the rest fails."""

    killmail_id: Id
    hash: StrictStr
    sequence_id: Id
    uploaded_at: Id
    sequence_updated: Id | None = None


class Package(_Model):
    """One R2Z2 file `ephemeral/{sequence_id}.json`: a killmail and its zkb block.

    `sequence_updated` names an earlier file this publication rewrote (its zkb changed).
    """

    killmail_id: Id
    hash: StrictStr
    esi: Killmail
    zkb: Zkb
    uploaded_at: Id
    sequence_id: Id
    sequence_updated: Id | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A package whose killmail or zkb failed the schema: kept aside with the reason, to show later."""

    sequence_id: int
    killmail_id: int
    hash: str
    reason: str
    body: bytes


Source = Literal["feed", "history", "esi"]  # R2Z2's ephemeral files, its raw day files, ESI's route


@dataclass(frozen=True, slots=True)
class Kill:
    """A killmail to keep: its body, zkb's block when the source carries one, and where it came from.

    The feed's packages carry both; a back-fill's day files and ESI's route carry the body alone (a
    later package of the same kill, or a republication, brings the zkb block)."""

    killmail_id: int
    hash: str
    esi: Killmail
    zkb: Zkb | None
    source: Source
    sequence_id: int | None = None
    uploaded_at: int | None = None

    @classmethod
    def of(cls, package: Package) -> Kill:
        """The kill a feed package carries."""
        return cls(killmail_id=package.killmail_id, hash=package.hash, esi=package.esi, zkb=package.zkb,
                   source="feed", sequence_id=package.sequence_id, uploaded_at=package.uploaded_at)
