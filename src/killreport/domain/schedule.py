"""The scheduler's shapes that the store reads and writes (scheduler/rules.py decides with them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Affiliated:
    """Where a character is: its corporation and that corporation's alliance."""

    corporation_id: int
    alliance_id: int | None


@dataclass(frozen=True, slots=True)
class Move:
    """A stored character that affiliation shows somewhere else."""

    character_id: int
    old: Affiliated
    new: Affiliated


@dataclass(frozen=True, slots=True)
class StoredAlliance:
    """What the list refresh needs of a stored alliance."""

    closed: bool
    date_founded: dt.datetime
