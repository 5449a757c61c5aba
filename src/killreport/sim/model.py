"""The simulated universe's entities and indexes; mutable, owned by one Universe object."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field


def iso(ts: int) -> str:
    """An ESI timestamp (`2015-03-02T12:34:56Z`) from epoch seconds."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(text: str) -> int:
    """Epoch seconds from an ESI timestamp (`iso`'s inverse)."""
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


# (record_id, start_date in epoch seconds, id or None): the rows of the history routes, oldest first.
HistoryRow = tuple[int, int, int | None]


@dataclass(slots=True)
class Alliance:
    """An alliance as the game holds it."""

    id: int
    name: str
    ticker: str
    creator_id: int
    creator_corporation_id: int
    date_founded: str
    executor_corporation_id: int | None = None
    faction_id: int | None = None
    members: list[int] = field(default_factory=list)
    closed: bool = False


@dataclass(slots=True)
class Corporation:
    """A player or NPC corporation; `tax_rate` is a fraction."""

    id: int
    name: str
    ticker: str
    ceo_id: int
    creator_id: int
    member_count: int
    tax_rate: float
    lp_tax_rate: float = 0.0
    alliance_id: int | None = None
    date_founded: str | None = None
    description: str | None = None
    faction_id: int | None = None
    home_station_id: int | None = None
    shares: int | None = None
    url: str | None = None
    war_eligible: bool | None = None
    closed: bool = False
    npc: bool = False
    friendly_fire: str = "illegal"
    palette: dict[str, str] | None = None
    alliance_history: list[HistoryRow] = field(default_factory=list)
    # Set when a mutation closes it: (when, the first of a block of record ids, one per ordinary pilot),
    # from which each of its pilots' move to a starter corporation is derived (sim/roster.py).
    pilots_left: tuple[int, int] | None = None


@dataclass(slots=True)
class Character:
    """A character; deleted ones keep their name (for /universe/names) and answer 404."""

    id: int
    name: str
    birthday: str
    bloodline_id: int
    race_id: int
    corporation_id: int
    gender: str
    achievement_score: int = 0
    description: str | None = None
    security_status: float | None = None
    title: str | None = None
    title_id: str | None = None
    faction_id: int | None = None
    deleted: bool = False
    npc: bool = False
    corp_history: list[HistoryRow] = field(default_factory=list)


ResourceKey = tuple[str, int]


@dataclass(slots=True)
class Universe:
    """Every entity by id, the active alliance list, and a revision per resource for cache invalidation."""

    alliances: dict[int, Alliance] = field(default_factory=dict)
    corporations: dict[int, Corporation] = field(default_factory=dict)
    characters: dict[int, Character] = field(default_factory=dict)
    factions: dict[int, str] = field(default_factory=dict)
    starter_corporations: list[int] = field(default_factory=list)
    revisions: dict[ResourceKey, int] = field(default_factory=dict)
    next_record_id: int = 1_000_000
    # The lazy population's corporations (sim/population.py), derived when asked for; None without one.
    lazy_corporation: Callable[[int], Corporation | None] | None = None

    def active_alliance_ids(self) -> list[int]:
        """Ids `GET /alliances` lists: every alliance not closed, ascending."""
        return sorted(a.id for a in self.alliances.values() if not a.closed)

    def revision(self, key: ResourceKey) -> int:
        """The current revision of a resource (0 until it first changes)."""
        return self.revisions.get(key, 0)

    def touch(self, *keys: ResourceKey) -> None:
        """Mark resources as changed so their cached bodies are rendered again."""
        for key in keys:
            self.revisions[key] = self.revisions.get(key, 0) + 1

    def new_record_id(self) -> int:
        """A fresh, increasing history record id."""
        self.next_record_id += 1
        return self.next_record_id

    def new_record_ids(self, count: int) -> int:
        """The first of `count` fresh, increasing history record ids."""
        first = self.next_record_id + 1
        self.next_record_id += count
        return first

    def corporation(self, corp_id: int) -> Corporation | None:
        """A corporation of the universe, or of the lazy population (derived, not held) if there is one."""
        found = self.corporations.get(corp_id)
        if found is None and self.lazy_corporation is not None:
            return self.lazy_corporation(corp_id)
        return found

    def alliance_of_character(self, character: Character) -> int | None:
        """The alliance a character is in through its corporation (population corporations are in none)."""
        corp = self.corporations.get(character.corporation_id)
        return None if corp is None else corp.alliance_id
