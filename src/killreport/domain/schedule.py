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


@dataclass(frozen=True, slots=True)
class Rhythm:
    """How old an entity of one kind may grow before it is due (past its Expires as well).

    `min_age_s` is the kind's age (for corporations: an active one's, an alliance member or one seen
    on a kill within `kill_window_s`); `dormant_age_s` every other corporation's (None: the same).
    An entity whose job failed is due again `failed_after_s` later, or the kind's age if shorter
    (None: the age): a character's age is a month, too long to leave a failed refresh."""

    min_age_s: float
    dormant_age_s: float | None = None
    kill_window_s: float = 0.0
    failed_after_s: float | None = None

    def params(self) -> dict[str, float]:
        """The due statements' parameters."""
        dormant = self.min_age_s if self.dormant_age_s is None else self.dormant_age_s
        failed = self.min_age_s if self.failed_after_s is None else min(self.min_age_s, self.failed_after_s)
        return {"min_age": self.min_age_s, "dormant_age": dormant, "kill_window": self.kill_window_s,
                "failed_hold": failed}
