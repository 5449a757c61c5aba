"""The game's primitive moves on a universe (new ids, characters and corporations, joining and leaving),
shared by every kind of change; nothing here picks what to change."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable

from killreport.sim import strings
from killreport.sim.model import Alliance, Character, Corporation, Universe, iso
from killreport.sim.population import Population
from killreport.sim.truth import referenced_characters

CHARACTER_IDS = (2_100_000_000, 2_130_000_000)
CORPORATION_IDS = (98_000_000, 99_000_000)
ALLIANCE_IDS = (99_000_000, 100_000_000)
# The share of the changes that can act on the lazy population (moves, biomassing, member counts,
# renames) which land on it, when there is one (a choice).
LAZY_SHARE = 0.5


class Game:
    """A universe, the Random that drives changes and an index of the characters of each corporation.

    `clock` is the simulator's (epoch seconds): every record a change appends, and every entity it
    creates, is dated by it. `pilots` is the number of ordinary pilots (sim/roster.py): a corporation's
    closing reserves a history record id for each. `population` is the lazy one (sim/population.py).
    """

    def __init__(self, universe: Universe, rng: random.Random, clock: Callable[[], float] = time.time,
                 pilots: int = 0, population: Population | None = None) -> None:
        self.uni = universe
        self.rng = rng
        self.clock = clock
        self.pilots = pilots
        self.population = population
        self.members: defaultdict[int, set[int]] = defaultdict(set)
        for char in universe.characters.values():
            self.members[char.corporation_id].add(char.id)

    def free_id(self, ids: tuple[int, int]) -> int:
        """An unused id in the range `ids` (ESI's kinds share one id space)."""
        uni = self.uni
        eid = self.rng.randrange(*ids)
        while eid in uni.characters or eid in uni.corporations or eid in uni.alliances or eid in uni.factions:
            eid += 1
        return eid

    def active_corporation(self) -> Corporation | None:
        """A random active player corporation in an alliance."""
        corps = [c for c in self.uni.corporations.values() if not c.closed and not c.npc and c.alliance_id]
        return self.rng.choice(corps) if corps else None

    def corporation_ids(self, *, in_alliance: bool) -> list[int]:
        """Active player corporations in an alliance, or in none, by id (never the population's)."""
        lazy = self.population.corporation_index if self.population is not None else None
        return sorted(c.id for c in self.uni.corporations.values()
                      if not c.closed and not c.npc and (c.alliance_id is not None) == in_alliance
                      and (lazy is None or lazy(c.id) is None))

    def _lands_on_population(self, size: int) -> bool:
        # No draw at all without a population, so that a seed's changes stay what they were.
        return size > 0 and self.rng.random() < LAZY_SHARE

    def lazy_corporation(self) -> Corporation | None:
        """A population corporation, materialised, for a share of the changes; else None."""
        pop = self.population
        if pop is None or not self._lands_on_population(pop.corporations):
            return None
        corp = pop.materialise_corporation(pop.random_corporation(self.rng) or 0)
        if corp is not None:
            self.members[corp.id].add(corp.ceo_id)
        return corp

    def lazy_character(self, *, ceos: bool) -> Character | None:
        """A living population character, materialised with its corporation, for a share of the changes."""
        pop = self.population
        if pop is None or not self._lands_on_population(pop.characters):
            return None
        char = pop.materialise_character(pop.random_character(self.rng, ceos=ceos) or 0)
        if char is None:
            return None
        # Its corporation too, whose member count a move changes.
        corp = pop.materialise_corporation(char.corporation_id) if pop.corporation_index(
            char.corporation_id) is not None else None
        if corp is not None:
            self.members[corp.id].add(corp.ceo_id)
        self.members[char.corporation_id].add(char.id)
        return char

    def player_characters(self, *, ceos: bool) -> list[int]:
        """Living player characters by id, CEOs only if `ceos`: those a sync stores, else any."""
        uni = self.uni
        busy = set() if ceos else {c.ceo_id for c in uni.corporations.values() if not c.closed}
        for pool in (referenced_characters(uni), uni.characters.keys()):
            found = [c for c in pool if c not in busy and self._living(c)]
            if found:
                return sorted(found)
        return []

    def _living(self, char_id: int) -> bool:
        char = self.uni.characters.get(char_id)
        return char is not None and not char.npc and not char.deleted

    def new_character(self, corp_id: int) -> Character:
        """A character born now into `corp_id`."""
        uni, rng = self.uni, self.rng
        char_id = self.free_id(CHARACTER_IDS)
        born = self.now()
        char = Character(char_id, strings.entity_name(rng, "character"), iso(born), 1, 1, corp_id,
                         rng.choice(("male", "female")), achievement_score=rng.randint(0, 500),
                         security_status=0.0)
        char.corp_history.append((uni.new_record_id(), born, corp_id))
        uni.characters[char_id] = char
        self.members[corp_id].add(char_id)
        return char

    def new_corporation(self) -> Corporation:
        """A corporation founded now, in no alliance, by a new character who is its CEO."""
        uni, rng = self.uni, self.rng
        corp_id = self.free_id(CORPORATION_IDS)
        ceo = self.new_character(corp_id)
        corp = Corporation(
            corp_id, strings.entity_name(rng, "corporation"), strings.ticker(rng), ceo.id, ceo.id,
            rng.randint(1, 40), rng.choice((0.0, 0.05, 0.1)), date_founded=ceo.birthday,
            description=strings.description(rng), home_station_id=60_000_000 + rng.randrange(15_000),
            shares=1000, url=strings.url(rng), war_eligible=True)
        corp.alliance_history.append((uni.new_record_id(), ceo.corp_history[0][1], None))
        uni.corporations[corp_id] = corp
        return corp

    def new_alliance(self, founder: Corporation) -> Alliance:
        """An alliance founded now by `founder` (its executor and first member) and its CEO."""
        uni, rng = self.uni, self.rng
        alliance = Alliance(self.free_id(ALLIANCE_IDS), strings.entity_name(rng, "alliance"),
                            strings.ticker(rng), founder.ceo_id, founder.id, iso(self.now()), founder.id)
        uni.alliances[alliance.id] = alliance
        self.set_alliance(founder, alliance)
        return alliance

    def set_alliance(self, corp: Corporation, new: Alliance | None) -> None:
        """Move `corp` out of its alliance (if any) into `new` (or none): one alliance-history row."""
        uni = self.uni
        old = uni.alliances.get(corp.alliance_id or 0)
        if old is not None:
            old.members.remove(corp.id)
            if old.executor_corporation_id == corp.id:
                # The game hands the executor role to the biggest corporation left, or to nobody.
                old.executor_corporation_id = max(
                    old.members, key=lambda c: uni.corporations[c].member_count) if old.members else None
        corp.alliance_id = None if new is None else new.id
        if new is not None:
            new.members = sorted([*new.members, corp.id])
        corp.alliance_history.append((uni.new_record_id(), self.now(), corp.alliance_id))

    def now(self) -> int:
        """The simulator's time in whole seconds, as the history routes date records."""
        return int(self.clock())

    def close(self, corp: Corporation) -> None:
        """Mark `corp` closed; its ordinary pilots move to starter corporations now, one record each."""
        corp.closed, corp.ceo_id, corp.member_count = True, 1, 0
        corp.pilots_left = (self.now(), self.uni.new_record_ids(self.pilots))

    def move_character(self, char: Character, corp_id: int, *, recorded: bool = True) -> None:
        """`char` leaves its corporation for `corp_id`; corporation titles do not follow.

        Not `recorded` in its corporation history: a biomassed character's move (ESI's histories
        do not show the move to Doomheim).
        """
        old = self.uni.corporations.get(char.corporation_id)
        new = self.uni.corporations.get(corp_id)
        self.members[char.corporation_id].discard(char.id)
        self.members[corp_id].add(char.id)
        char.corporation_id = corp_id
        char.title = char.title_id = None
        if recorded:
            char.corp_history.append((self.uni.new_record_id(), self.now(), corp_id))
        # Only player corporations' counts move: NPC ones hold abstract crowds, closed ones nobody.
        if old is not None and not old.npc and not old.closed:
            old.member_count = max(1, old.member_count - 1)
        if new is not None and not new.npc and not new.closed:
            new.member_count += 1

    def corporations_with_history_of(self, alliance_id: int) -> list[int]:
        """Corporations whose alliance history names `alliance_id`."""
        return sorted(c.id for c in self.uni.corporations.values()
                      if any(row[2] == alliance_id for row in c.alliance_history))

    def characters_with_history_of(self, corp_id: int) -> list[int]:
        """Characters whose corporation history names `corp_id`."""
        return sorted(c.id for c in self.uni.characters.values()
                      if any(row[2] == corp_id for row in c.corp_history))
