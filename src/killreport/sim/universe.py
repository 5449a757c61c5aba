"""Generate a universe shaped like the real one, deterministically from a seed."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Final

from killreport.sim import strings
from killreport.sim.model import Alliance, Character, Corporation, Universe
from killreport.sim.model import iso as iso  # re-exported: other modules of the simulator take it from here
from killreport.sim.past import give_pasts

_START: Final = int(dt.datetime(2003, 5, 6, tzinfo=dt.UTC).timestamp())
_END: Final = int(dt.datetime(2026, 7, 15, tzinfo=dt.UTC).timestamp())
_SHARED_BEFORE: Final = int(dt.datetime(2010, 11, 1, tzinfo=dt.UTC).timestamp())
_NEW_CHARACTERS_FROM: Final = int(dt.datetime(2016, 6, 1, tzinfo=dt.UTC).timestamp())
_MEAN_CORPS_PER_ALLIANCE: Final = 5.0
_FACTIONS: Final = {
    500001: "Caldari State", 500002: "Minmatar Republic", 500003: "Amarr Empire",
    500004: "Gallente Federation", 500010: "Guristas Pirates", 500011: "Angel Cartel",
}
_RACE_BLOODLINES: Final = {1: (1, 2, 14), 2: (3, 4, 15), 4: (5, 6, 16), 8: (7, 8, 12)}


def generate(seed: int, alliances: int, deleted: int, reserved: tuple[tuple[int, int], ...] = ()) -> Universe:
    """A universe of `alliances` active alliances with `deleted` deleted referenced characters.

    `reserved`: (first id, count) blocks of the shared range the generator leaves free (the lazy
    population's, sim/population.py); none by default, which gives the universe it always gave.
    """
    gen = _Generator(random.Random(seed), reserved)
    gen.build(alliances)
    gen.delete_characters(deleted)
    # From a Random of its own, so that the entities of a seed are what they were before pasts existed.
    give_pasts(gen.universe, random.Random(seed * 7 + 3), _END)
    return gen.universe


class _Generator:
    """Builds one universe; holds the Random and the id allocator."""

    def __init__(self, rng: random.Random, reserved: tuple[tuple[int, int], ...] = ()) -> None:
        self.rng = rng
        self.reserved = reserved
        self.universe = Universe(factions=dict(_FACTIONS))
        self.used: set[int] = set()
        self.independents: list[int] = []

    def when(self, after: int = _START, before: int = _END) -> int:
        """A moment, biased towards recent ones like real sign-ups."""
        u = self.rng.random()
        return int(after + (before - after) * (1 - u * u))

    def new_id(self, kind: str, ts: int) -> int:
        """A unique id in the range ESI uses for `kind` created at `ts`."""
        if ts < _SHARED_BEFORE:
            lo, hi = 100_000_000, 2_100_000_000
        elif kind == "alliance":
            lo, hi = 99_000_000, 100_000_000
        elif kind == "corporation":
            lo, hi = 98_000_000, 99_000_000
        elif ts < _NEW_CHARACTERS_FROM:
            lo, hi = 90_000_000, 98_000_000
        else:
            lo, hi = 2_100_000_000, 2_130_000_000
        while True:
            candidate = self.rng.randrange(lo, hi)
            for first, count in self.reserved:
                # Moved below the block rather than drawn again, so that the draws, and every other
                # entity, stay what they are without one.
                if first <= candidate < first + count:
                    candidate -= count
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate

    def build(self, count: int) -> None:
        """NPC corporations, a pool of independent corporations, then the alliances."""
        self.npc_corporations()
        for _ in range(max(3, count // 4)):
            self.independents.append(self.corporation(self.when(), None).id)
        sizes = alliance_sizes(self.rng, count)
        members_so_far: list[int] = []
        for size in sizes:
            alliance = self.alliance(size, members_so_far)
            members_so_far.extend(alliance.members)
        for _ in range(max(1, count // 100)):
            self.alliance(0, [], closed=True)

    def npc_corporations(self) -> None:
        """NPC corporations (1,000,000+) with NPC CEOs (3,000,000+); some are starter corporations."""
        uni = self.universe
        for i in range(40):
            corp_id, ceo_id = 1_000_002 + i * 4, 3_000_001 + i * 7
            faction = self.rng.choice(list(_FACTIONS))
            born = iso(_START - 86_400 * 365)
            uni.characters[ceo_id] = Character(
                ceo_id, strings.plain_name(self.rng), born, 1, 1, corp_id, "male", npc=True)
            kind = self.rng.choice(("Navy", "Academy", "Directorate"))
            uni.corporations[corp_id] = Corporation(
                corp_id, f"{strings.plain_name(self.rng, 1)} {kind}", strings.ticker(self.rng, 0.0),
                ceo_id, 1, self.rng.randint(5_000, 900_000), 0.11,
                description=strings.description(self.rng), faction_id=faction, home_station_id=60_000_000 + i,
                shares=100_000_000, url="", war_eligible=False, npc=True)
        uni.starter_corporations = sorted(uni.corporations)[:10]

    def character(self, before: int, corp_id: int) -> Character:
        """A new player character born before `before`, sitting in `corp_id`."""
        rng, uni = self.rng, self.universe
        born = self.when(_START, max(_START + 1, before))
        race = rng.choice(list(_RACE_BLOODLINES))
        char = Character(
            self.new_id("character", born), strings.entity_name(rng, "character"), iso(born),
            rng.choice(_RACE_BLOODLINES[race]), race, corp_id, rng.choice(("male", "female")),
            achievement_score=rng.randint(0, 9_000), description=strings.description(rng),
            security_status=round(rng.uniform(-10, 5), 6) if rng.random() < 0.9 else None,
            title=rng.choice((None, None, "", "CEO", "<color=0xffff0000>Director</color>", "Member 🚀")),
            faction_id=rng.choice(list(_FACTIONS)) if rng.random() < 0.03 else None)
        char.title_id = str(uuid.UUID(int=rng.getrandbits(128), version=4)) if char.title else None
        # The skeleton of its corporation history (record ids come once sim/past.py has drawn the rest).
        starter = rng.choice(uni.starter_corporations)
        char.corp_history.append((0, born, starter))
        if corp_id != starter:
            char.corp_history.append((0, self.when(born, _END), corp_id))
        uni.characters[char.id] = char
        return char

    def corporation(self, founded: int, alliance_id: int | None, closed: bool = False) -> Corporation:
        """A player corporation with a CEO (a member) and a creator (often the same character)."""
        rng, uni = self.rng, self.universe
        corp_id = self.new_id("corporation", founded)
        ceo = self.character(founded, corp_id)
        creator = ceo if rng.random() < 0.45 else self.character(founded, self.creator_home(corp_id))
        station = 60_000_000 + rng.randrange(15_000) if rng.random() < 0.92 else None
        corp = Corporation(
            corp_id, strings.entity_name(rng, "corporation"), strings.ticker(rng), ceo.id, creator.id,
            min(20_000, int(rng.paretovariate(1.1))), rng.choice((0.0, 0.05, 0.1, 0.11, 1.0, 0.075)),
            lp_tax_rate=rng.choice((0.0, 0.1, 0.5)), alliance_id=alliance_id, date_founded=iso(founded),
            description=strings.description(rng), home_station_id=station,
            shares=rng.choice((1000, 1000, 100_000, None)), url=strings.url(rng),
            war_eligible=rng.random() < 0.8, friendly_fire=rng.choice(("legal", "illegal")),
            palette={"main_color": f"#{rng.getrandbits(24):06x}"} if rng.random() < 0.3 else None)
        corp.alliance_history.append((0, founded, None))
        if closed:
            corp.closed, corp.ceo_id, corp.member_count = True, 1, 0
            ceo.corporation_id = creator.corporation_id = self.rng.choice(uni.starter_corporations)
        uni.corporations[corp_id] = corp
        return corp

    def creator_home(self, corp_id: int) -> int:
        """Where a creator who is not the CEO sits now: the same corporation, another one, or an NPC one."""
        roll = self.rng.random()
        if roll < 0.25:
            return corp_id
        if roll < 0.55 and self.independents:
            return self.rng.choice(self.independents)
        return self.rng.choice(self.universe.starter_corporations)

    def alliance(self, size: int, earlier_members: list[int], closed: bool = False) -> Alliance:
        """An alliance with `size` member corporations, a creator corporation and usually an executor."""
        rng, uni = self.rng, self.universe
        founded = self.when()
        alliance_id = self.new_id("alliance", founded)
        members = [self.corporation(self.when(_START, founded), alliance_id).id for _ in range(size)]
        for corp_id in members:
            uni.corporations[corp_id].alliance_history.append((0, self.when(founded, _END), alliance_id))
        creator_corp = self.creator_corporation(members, earlier_members, founded)
        creator_id = creator_corp.creator_id if rng.random() < 0.6 else (
            self.character(founded, self.creator_home(creator_corp.id)).id)
        executor = max(members, key=lambda c: uni.corporations[c].member_count) if members else None
        if executor is not None and rng.random() < 0.004:
            executor = None  # real data has a few alliances whose executor left without a successor
        alliance = Alliance(
            alliance_id, strings.entity_name(rng, "alliance"), strings.ticker(rng), creator_id,
            creator_corp.id, iso(founded), executor,
            rng.choice(list(_FACTIONS)) if rng.random() < 0.02 else None, sorted(members), closed)
        uni.alliances[alliance_id] = alliance
        return alliance

    def creator_corporation(self, members: list[int], earlier: list[int], founded: int) -> Corporation:
        """The corporation that founded an alliance: still a member, gone elsewhere, or closed."""
        roll, corps = self.rng.random(), self.universe.corporations
        if members and roll < 0.6:
            return corps[members[0] if self.rng.random() < 0.7 else self.rng.choice(members)]
        if earlier and roll < 0.72:
            return corps[self.rng.choice(earlier)]
        if roll < 0.9:
            corp = self.corporation(self.when(_START, founded), None)
            self.independents.append(corp.id)
            return corp
        return self.corporation(self.when(_START, founded), None, closed=True)

    def delete_characters(self, count: int) -> None:
        """Biomass `count` referenced characters: mostly creators, a few CEOs of small corporations."""
        uni = self.universe
        referenced = referenced_corporations(uni)
        ceos = {uni.corporations[c].ceo_id for c in referenced}
        creators = {uni.corporations[c].creator_id for c in referenced} | {
            a.creator_id for a in uni.alliances.values() if not a.closed}
        mostly = sorted(creators - ceos)
        some = sorted(c for c in ceos if c in uni.characters and uni.corporations[
            uni.characters[c].corporation_id].member_count < 5)
        self.rng.shuffle(mostly)
        self.rng.shuffle(some)
        from_ceos = min(len(some), count // 10)
        chosen = (some[:from_ceos] + mostly)[:count]
        for char_id in chosen:
            char = uni.characters[char_id]
            char.deleted = True
            char.corporation_id = self.rng.choice(uni.starter_corporations)


def referenced_corporations(uni: Universe) -> set[int]:
    """Corporations a complete sync stores: members of listed alliances and their creators and executors."""
    out: set[int] = set()
    for alliance in uni.alliances.values():
        if alliance.closed:
            continue
        out.update(alliance.members)
        out.add(alliance.creator_corporation_id)
        if alliance.executor_corporation_id is not None:
            out.add(alliance.executor_corporation_id)
    return out


def alliance_sizes(rng: random.Random, count: int) -> list[int]:
    """Member counts: a few empty, most a handful, a few hundreds; the mean is about five."""
    cap = max(20, count // 8)
    sizes = [0 if rng.random() < 0.02 else min(cap, int(rng.paretovariate(1.1))) for _ in range(count)]
    target, total = round(_MEAN_CORPS_PER_ALLIANCE * count), sum(sizes)
    while total != target and count:
        i = rng.randrange(count)
        if total < target and sizes[i] > 0:
            sizes[i], total = sizes[i] + 1, total + 1
        elif total > target and sizes[i] > 1:
            sizes[i], total = sizes[i] - 1, total - 1
    return sizes
