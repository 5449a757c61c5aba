"""The scheduler's decisions as pure functions: how much due work to release, when to sweep, what moved.

Nothing here touches the database, the queues or ESI; the edges (refresh.py, alliances.py,
sweep.py) read the facts, ask these functions, and act on the answer.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from killreport.changes import Change
from killreport.domain.schedule import Affiliated, Move, Rhythm, StoredAlliance
from killreport.sync.plan import requestable

# ESI answers at most this many ids per POST /characters/affiliation.
AFFILIATION_BATCH: Final = 1000
# A tick with anything due releases at least this many, so a kind with few entities and a long
# period (a handful of characters over a day) still drains its backlog promptly.
RELEASE_FLOOR: Final = 1


def release_count(backlog: int, tracked: int, period_s: float, elapsed_s: float, spread: float) -> int:
    """How many of `backlog` due refreshes to release after `elapsed_s` seconds.

    The trade-off is made here. Once spread out, `tracked` entities with a refresh period P fall
    due at tracked / P a second, so that is what keeps up. A sync stores them all within minutes,
    though, so an hour later they all fall due at once; releasing them as they fall due would be
    the same burst again, and released at the steady rate the last of them would wait a whole
    period. The release rate is capped at tracked / (spread * P): a backlog as large as
    everything drains within spread * P (a quarter of the period by default: 15 minutes for
    corporations, 6 hours for characters) and the peak rate stays at most 1/spread times the
    average one (4 times), paid for with that much lag past Expires. A small backlog (the normal
    state once spread) is released whole. Rounding up adds at most one a tick.
    """
    if backlog <= 0:
        return 0
    cap = tracked / (spread * period_s) * max(elapsed_s, 0.0)
    return min(backlog, max(RELEASE_FLOOR, math.ceil(cap)))


def steady_period(tracked: int, active: int, rhythm: Rhythm) -> float:
    """The period `release_count` spreads a kind over: tracked / the rate its rows fall due once spread.

    One age for the kind: that age. Corporations fall due at active / the active age plus the rest /
    the dormant age; their period is the one that rate would have for all of them, so a backlog is
    released no faster than 1/spread times what keeps up (never as fast as if all were active)."""
    dormant = rhythm.min_age_s if rhythm.dormant_age_s is None else rhythm.dormant_age_s
    active = min(max(active, 0), tracked)
    rate = active / rhythm.min_age_s + (tracked - active) / dormant
    return tracked / rate if rate > 0 else rhythm.min_age_s


def sweep_due(now: dt.datetime, last_started: dt.datetime | None, not_before: dt.datetime | None,
              period_s: float) -> bool:
    """Whether an affiliation sweep may start: a period after the last one, and past its answers' Expires."""
    if not_before is not None and now < not_before:
        return False
    return last_started is None or now >= last_started + dt.timedelta(seconds=period_s)


class AffiliationAnswer(Protocol):
    """One row of POST /characters/affiliation (domain.models.Affiliation has these fields)."""

    @property
    def character_id(self) -> int:
        """The character asked about."""
    @property
    def corporation_id(self) -> int:
        """Its corporation now."""
    @property
    def alliance_id(self) -> int | None:
        """That corporation's alliance, if any."""


def moves(stored: Mapping[int, Affiliated], answers: Iterable[AffiliationAnswer]) -> list[Move]:
    """The stored characters whose answer differs from the copy (unstored ids are ignored)."""
    found = []
    for answer in answers:
        old = stored.get(answer.character_id)
        new = Affiliated(answer.corporation_id, answer.alliance_id)
        if old is not None and old != new:
            found.append(Move(answer.character_id, old, new))
    return sorted(found, key=lambda m: m.character_id)


def move_changes(applied: Iterable[Move]) -> list[Change]:
    """The changes rows of moves, one per field that changed."""
    out = []
    for m in applied:
        if m.old.corporation_id != m.new.corporation_id:
            out.append(Change("character", m.character_id, "corporation_id",
                              m.old.corporation_id, m.new.corporation_id))
        if m.old.alliance_id != m.new.alliance_id:
            out.append(Change("character", m.character_id, "alliance_id", m.old.alliance_id,
                              m.new.alliance_id))
    return out


def pointed_to(applied: Iterable[Move]) -> tuple[frozenset[int], frozenset[int]]:
    """The corporations and alliances moved characters now belong to (never NPC or system ids)."""
    applied = list(applied)
    return (requestable("corporation", [m.new.corporation_id for m in applied]),
            requestable("alliance", [m.new.alliance_id for m in applied]))


@dataclass(frozen=True, slots=True)
class ListDelta:
    """How GET /alliances differs from the stored alliances."""

    new: list[int]
    left: list[int]
    returned: list[int]


def list_delta(listed: Collection[int], stored: Mapping[int, StoredAlliance],
               list_modified: dt.datetime | None) -> ListDelta:
    """Listed but not stored (new), stored open but unlisted (left), stored closed but listed (returned).

    An alliance founded after the list last changed cannot be in it yet (ESI caches the list for an
    hour; an affiliation sweep can find the alliance sooner), so it has not left.
    """
    listed = set(listed)
    left = [a for a, s in stored.items() if not s.closed and a not in listed
            and (list_modified is None or s.date_founded <= list_modified)]
    return ListDelta(new=sorted(listed - set(stored)), left=sorted(left),
                     returned=sorted(a for a in listed if a in stored and stored[a].closed))


def closing_changes(closed: Iterable[int], reopened: Iterable[int]) -> list[Change]:
    """`closed` rows for alliances that left the list (false → true) and came back (true → false)."""
    return ([Change("alliance", a, "closed", False, True) for a in sorted(closed)]
            + [Change("alliance", a, "closed", True, False) for a in sorted(reopened)])
