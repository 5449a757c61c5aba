"""The lazy population: characters and corporations that exist only as a pure function of (seed, id).

EVE's real size (about 20.8 million characters and 979,000 corporations) cannot be held as Python
objects. `--population-characters N --population-corporations M` add N characters with ids
`CHARACTER_BASE + k` (k < N) and M corporations with ids `CORPORATION_BASE + j` (j < M), in ranges the
generator keeps free (`reserved_blocks`). Both sit in ESI's range shared by every kind for entities created
before November 2010, so they are born and founded before then.

Who belongs where comes from one table of cumulative member counts (8 bytes per corporation), drawn from
the seed at start: corporation j's members are the characters `ends[j-1] .. ends[j]-1`, the first its CEO
and creator; characters beyond the last corporation's members sit in the starter NPC corporations, and a
share of those are biomassed. Population corporations are in no alliance (most of the real ones are in
none; putting them in the generated alliances would change those alliances and the truth). Everything
else (names, birthdays, histories) is drawn from `random.Random(seed, id)` when asked for.

Nothing is held per entity until a mutation changes it: then `materialise_*` puts it into the universe's
dicts, which every route reads first, and it is served from there.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from array import array
from typing import Final

from killreport.sim import strings
from killreport.sim.model import Character, Corporation, Universe, iso

CHARACTER_BASE: Final = 1_000_000_000
CORPORATION_BASE: Final = 1_900_000_000
MAX_CHARACTERS: Final = 100_000_000  # so that characters stay below CORPORATION_BASE
MAX_CORPORATIONS: Final = 100_000_000  # so that corporations stay below 2,100,000,000 (the shared range)
# Share of the population's characters that belong to its corporations; the rest sit in starter NPC
# corporations (a choice).
PLAYER_SHARE: Final = 0.7
# Per thousand of the characters in starter corporations, biomassed: 450 of the 30 % are about 13.5 %
# of all, as in the census (20.8 million records, about 18 million not deleted).
_DELETED_PER_MILLE: Final = 450
_BORN_FROM: Final = int(dt.datetime(2003, 5, 6, tzinfo=dt.UTC).timestamp())
_SHARED_UNTIL: Final = int(dt.datetime(2010, 11, 1, tzinfo=dt.UTC).timestamp())
_END: Final = int(dt.datetime(2026, 7, 15, tzinfo=dt.UTC).timestamp())
# History record ids of the population: a range of their own, above the ordinary pilots' (5,000,000,000+)
# and below every record a mutation makes.
_RECORD_BASE: Final = 6_000_000_000
_CORPORATION_RECORDS: Final = _RECORD_BASE + 2 * MAX_CHARACTERS
RECORDS_END: Final = _CORPORATION_RECORDS + MAX_CORPORATIONS
# The largest corporation's weight (before scaling to the members to share out): a heavy tail, capped.
_WEIGHT_CAP: Final = 2000.0


def reserved_blocks(characters: int, corporations: int) -> tuple[tuple[int, int], ...]:
    """(first id, count) of each id range the population owns, which the generator must leave free."""
    return tuple((base, count) for base, count in ((CHARACTER_BASE, characters),
                                                   (CORPORATION_BASE, corporations)) if count)


def check_sizes(characters: int, corporations: int) -> None:
    """ValueError unless the sizes fit their ranges and every corporation can have a CEO."""
    if not 0 <= characters <= MAX_CHARACTERS or not 0 <= corporations <= MAX_CORPORATIONS:
        raise ValueError(f"population sizes must be within 0..{MAX_CHARACTERS:,}")
    if corporations > characters * PLAYER_SHARE:
        raise ValueError("population corporations need a CEO each: at most 70 % as many as characters")


def member_ends(seed: int, characters: int, corporations: int) -> array[int]:
    """Cumulative member counts of the population's corporations (at least one member each)."""
    rng = random.Random(seed * 1_000_033 + 17)
    weights = array("d", (min(_WEIGHT_CAP, rng.paretovariate(1.1)) - 1.0 for _ in range(corporations)))
    players = max(corporations, int(characters * PLAYER_SHARE))
    extra, total = players - corporations, sum(weights) or 1.0
    ends, acc = array("q"), 0.0
    for j, weight in enumerate(weights):
        acc += weight
        ends.append(j + 1 + int(extra * acc / total))
    if ends:
        ends[-1] = players  # whatever the float sums did, the last one ends with the last member
    return ends


def _rng(seed: int, eid: int) -> random.Random:
    return random.Random(seed * 4_294_967_296 + eid)


class Population:
    """N characters and M corporations derived from the seed and their ids; materialised when changed."""

    def __init__(self, seed: int, characters: int, corporations: int, universe: Universe) -> None:
        check_sizes(characters, corporations)
        self.seed = seed
        self.characters = characters
        self.corporations = corporations
        self.universe = universe
        self.starters = list(universe.starter_corporations)
        self.ends = member_ends(seed, characters, corporations)
        if characters or corporations:
            universe.next_record_id = max(universe.next_record_id, RECORDS_END)
            universe.lazy_corporation = self.corporation

    @property
    def players(self) -> int:
        """How many characters belong to population corporations (the rest sit in starter ones)."""
        return self.ends[-1] if self.ends else 0

    def character_index(self, eid: int) -> int | None:
        """k for a population character id, or None."""
        k = eid - CHARACTER_BASE
        return k if 0 <= k < self.characters else None

    def corporation_index(self, eid: int) -> int | None:
        """j for a population corporation id, or None."""
        j = eid - CORPORATION_BASE
        return j if 0 <= j < self.corporations else None

    def home_index(self, k: int) -> int | None:
        """The population corporation character k belongs to, or None (a starter corporation's)."""
        return bisect.bisect_right(self.ends, k) if k < self.players else None

    def first_member(self, j: int) -> int:
        """k of corporation j's first member: its CEO and creator."""
        return self.ends[j - 1] if j else 0

    def is_deleted(self, k: int) -> bool:
        """Whether character k was biomassed: a share of those in starter corporations."""
        return k >= self.players and (k * 2_654_435_761 + self.seed * 97) % 1000 < _DELETED_PER_MILLE

    def starter_of(self, k: int) -> int:
        """The starter NPC corporation character k was born in."""
        return self.starters[k % len(self.starters)]

    def corporation_of(self, k: int) -> int:
        """Character k's corporation now (its materialised self's, once a mutation changed it)."""
        found = self.universe.characters.get(CHARACTER_BASE + k)
        if found is not None:
            return found.corporation_id
        j = self.home_index(k)
        return self.starter_of(k) if j is None else CORPORATION_BASE + j

    def founded(self, j: int) -> int:
        """When corporation j was founded (epoch seconds): the first draw of its own Random."""
        return _rng(self.seed, CORPORATION_BASE + j).randrange(_BORN_FROM + 86_400 * 30, _SHARED_UNTIL)

    def character(self, eid: int) -> Character | None:
        """The body of a population character as generated (not its materialised self); None for others."""
        k = self.character_index(eid)
        if k is None:
            return None
        rng, j = _rng(self.seed, eid), self.home_index(k)
        founded = None if j is None else self.founded(j)
        if founded is not None and k == self.first_member(j or 0):
            born = max(_BORN_FROM, founded - rng.randrange(86_400 * 400))
        else:
            born = rng.randrange(_BORN_FROM, min(founded or _SHARED_UNTIL, _SHARED_UNTIL))
        race, bloodline = rng.choice(((1, 1), (2, 3), (4, 5), (8, 7)))
        deleted = self.is_deleted(k)
        char = Character(eid, strings.entity_name(rng, "character"), iso(born), bloodline, race,
                         self.starter_of(k) if j is None else CORPORATION_BASE + j,
                         rng.choice(("male", "female")), achievement_score=rng.randint(0, 9_000),
                         security_status=round(rng.uniform(-10, 5), 6), deleted=deleted)
        char.corp_history.append((_RECORD_BASE + 2 * k, born, self.starter_of(k)))
        if founded is not None:
            joined = founded if k == self.first_member(j or 0) else rng.randrange(max(born, founded), _END)
            char.corp_history.append((_RECORD_BASE + 2 * k + 1, joined, CORPORATION_BASE + (j or 0)))
        return char

    def corporation(self, eid: int) -> Corporation | None:
        """The body of a population corporation as generated (not its materialised self); None for others."""
        j = self.corporation_index(eid)
        if j is None:
            return None
        rng = _rng(self.seed, eid)
        founded = rng.randrange(_BORN_FROM + 86_400 * 30, _SHARED_UNTIL)  # as `founded(j)` draws it
        ceo = CHARACTER_BASE + self.first_member(j)
        corp = Corporation(
            eid, strings.entity_name(rng, "corporation"), strings.ticker(rng), ceo, ceo,
            self.ends[j] - self.first_member(j), rng.choice((0.0, 0.05, 0.1, 0.11, 1.0, 0.075)),
            lp_tax_rate=rng.choice((0.0, 0.1, 0.5)), date_founded=iso(founded),
            description=strings.description(rng),
            home_station_id=60_000_000 + rng.randrange(15_000) if rng.random() < 0.92 else None,
            shares=rng.choice((1000, 1000, 100_000, None)), url=strings.url(rng),
            war_eligible=rng.random() < 0.8, friendly_fire=rng.choice(("legal", "illegal")))
        corp.alliance_history.append((_CORPORATION_RECORDS + j, founded, None))
        return corp

    def materialise_character(self, eid: int) -> Character | None:
        """The universe's own object for a population character, created from its body the first time."""
        uni = self.universe
        found = uni.characters.get(eid)
        if found is None and (found := self.character(eid)) is not None:
            uni.characters[eid] = found
        return found

    def materialise_corporation(self, eid: int) -> Corporation | None:
        """The universe's own object for a population corporation (its CEO's too, as renames reach it)."""
        uni = self.universe
        found = uni.corporations.get(eid)
        if found is None and (found := self.corporation(eid)) is not None:
            uni.corporations[eid] = found
            self.materialise_character(found.ceo_id)
        return found

    def random_character(self, rng: random.Random, *, ceos: bool) -> int | None:
        """A living population character's id (never a CEO unless `ceos`), or None if there is none."""
        for _ in range(64):
            k = rng.randrange(self.characters) if self.characters else -1
            if k < 0:
                return None
            j = self.home_index(k)
            char = self.universe.characters.get(CHARACTER_BASE + k)
            if (char.deleted if char is not None else self.is_deleted(k)):
                continue
            if ceos or j is None or k != self.first_member(j):
                return CHARACTER_BASE + k
        return None

    def random_corporation(self, rng: random.Random) -> int | None:
        """A population corporation's id, or None if there is none."""
        return CORPORATION_BASE + rng.randrange(self.corporations) if self.corporations else None
