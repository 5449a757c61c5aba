"""Ordinary pilots: the members of every corporation beyond its CEO, derived from ids and the seed.

Nothing per pilot is stored: pilot `k` has id `ROSTER_BASE + k`, its corporation comes from a table of
cumulative member counts taken when the simulator starts, and its body is generated from `(seed, k)` when
asked for. When its corporation closes (a mutation), the corporation records when and a block of record
ids, from which the pilot's move back to its starter corporation is derived: still nothing per pilot.
A roster of millions costs a few bytes per corporation, not per pilot.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from typing import Final

from killreport.sim import strings
from killreport.sim.model import Character, HistoryRow, Universe, epoch, iso

# Above every id the generator and the mutations hand out (2,100,000,000..2,129,999,999).
ROSTER_BASE: Final = 2_130_000_000
# Pilots in the starter NPC corporations, per ten pilots in player corporations (a choice).
_NPC_PER_TEN: Final = 1
# Deleted pilots per thousand (a choice, like --deleted-characters).
_DELETED_PER_MILLE: Final = 15
_BORN_FROM: Final = int(dt.datetime(2003, 5, 6, tzinfo=dt.UTC).timestamp())
_BORN_UNTIL: Final = int(dt.datetime(2026, 7, 15, tzinfo=dt.UTC).timestamp())
_RECORD_BASE: Final = 5_000_000_000  # corporation history record ids of pilots, apart from the universe's


class Roster:
    """Every ordinary pilot of a universe, by index; corporations as they were when it was built."""

    def __init__(self, seed: int, universe: Universe) -> None:
        self.seed = seed
        self.universe = universe
        player = sorted(c.id for c in universe.corporations.values() if not c.npc and not c.closed)
        counts = [max(0, universe.corporations[c].member_count - 1) for c in player]
        starters = universe.starter_corporations
        npc_each = sum(counts) * _NPC_PER_TEN // 10 // max(1, len(starters))
        self._corporations = player + list(starters)
        self._ends: list[int] = []
        total = 0
        for count in counts + [npc_each] * len(starters):
            total += count
            self._ends.append(total)
        # Records the universe appends from now on (mutations) come after every pilot's own.
        universe.next_record_id = max(universe.next_record_id, _RECORD_BASE + 2 * total)

    @property
    def size(self) -> int:
        """How many ordinary pilots there are."""
        return self._ends[-1] if self._ends else 0

    def index_of(self, char_id: int) -> int | None:
        """The roster index of a pilot id, or None if the id is no ordinary pilot."""
        k = char_id - ROSTER_BASE
        return k if 0 <= k < self.size else None

    def is_deleted(self, k: int) -> bool:
        """Whether pilot `k` has been biomassed (a fixed share, spread by a multiplicative hash)."""
        return (k * 2_654_435_761 + self.seed * 97) % 1000 < _DELETED_PER_MILLE

    def home(self, k: int) -> int:
        """The corporation pilot `k` joined: its own, as the roster was built."""
        return self._corporations[bisect.bisect_right(self._ends, k)]

    def corporation_of(self, k: int) -> int:
        """Pilot `k`'s corporation now: its home, or a starter corporation once deleted or the home closed."""
        home = self.home(k)
        corp = self.universe.corporations.get(home)
        if self.is_deleted(k) or corp is None or corp.closed:
            starters = self.universe.starter_corporations
            return starters[k % len(starters)]
        return home

    def character(self, char_id: int) -> Character | None:
        """The body of an ordinary pilot, generated from the seed and its index; None for other ids."""
        k = self.index_of(char_id)
        if k is None:
            return None
        rng = random.Random(self.seed * 1_000_003 + k)
        born = rng.randrange(_BORN_FROM, _BORN_UNTIL)
        race, bloodline = rng.choice(((1, 1), (2, 3), (4, 5), (8, 7)))
        char = Character(
            char_id, strings.plain_name(rng), iso(born), bloodline, race,
            self.corporation_of(k), rng.choice(("male", "female")), achievement_score=rng.randint(0, 9_000),
            security_status=round(rng.uniform(-10, 5), 6), deleted=self.is_deleted(k))
        char.corp_history = self._history(k, rng, born)
        return char

    def _history(self, k: int, rng: random.Random, born: int) -> list[HistoryRow]:
        """Pilot `k`'s corporation history: born in a starter corporation, its home, and back if it closed."""
        starter = self.universe.starter_corporations[k % len(self.universe.starter_corporations)]
        rows: list[HistoryRow] = [(_RECORD_BASE + 2 * k, born, starter)]
        home = self.universe.corporations[self.home(k)]
        if home.id == starter:
            return rows
        founded = epoch(home.date_founded) if home.date_founded else born
        rows.append((_RECORD_BASE + 2 * k + 1, rng.randrange(min(max(born, founded), _BORN_UNTIL),
                                                              _BORN_UNTIL + 1), home.id))
        if home.pilots_left is not None and not self.is_deleted(k):
            # Its corporation closed: back to its starter corporation (a deleted pilot's move is not
            # recorded).
            when, first_record = home.pilots_left
            rows.append((first_record + k, when, starter))
        return rows

    def revision(self, k: int) -> int:
        """How often pilot `k`'s answers changed since start: once, if its corporation closed."""
        return 0 if self.universe.corporations[self.home(k)].pilots_left is None else 1
