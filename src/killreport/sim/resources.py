"""Answer the ESI routes from the universe: lookups, 404s, POST body checks, cached GET bodies."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from killreport.ids import MAX_ID
from killreport.sim import schemas
from killreport.sim.cache import BodyCache, Entry, dumps, http_date
from killreport.sim.downtime import Downtime
from killreport.sim.feed import KillFeed
from killreport.sim.limits import Clock
from killreport.sim.model import Character, Universe
from killreport.sim.options import SimOptions
from killreport.sim.population import Population
from killreport.sim.roster import Roster
from killreport.sim.routes import ROUTES, Route

_NOT_FOUND = {"alliance": "Alliance not found", "corporation": "Corporation not found",
              "character": "Character not found"}
_NAMES_INVALID = "Ensure all IDs are valid before resolving."
_KILLMAIL_INVALID = "Invalid killmail_id and/or killmail_hash"
# Entries the lazy population's cache (and the record of what each client was handed) may hold before
# the expired ones are dropped; after that, twice what was left.
LAZY_PRUNE_AT: Final = 100_000


@dataclass(frozen=True, slots=True)
class Answer:
    """A decided answer: status, JSON data and body; `entry` for cacheable GETs, `expires_at` for POSTs."""

    status: int
    data: Any
    body: bytes
    entry: Entry | None = None
    expires_text: str | None = None
    expires_at: int | None = None


def error_answer(status: int, message: str, date: str) -> Answer:
    """An ESI JSON error."""
    data = schemas.error_body(message, status, date)
    return Answer(status, data, dumps(data))


class Resources:
    """Renders every route for one universe; GET bodies go through the shared cache."""

    def __init__(self, universe: Universe, options: SimOptions, clock: Clock, downtime: Downtime,
                 roster: Roster, feed: KillFeed, population: Population) -> None:
        self.universe = universe
        self.roster = roster
        self.population = population
        self.feed = feed
        self.clock = clock
        self.downtime = downtime
        self.cache = BodyCache()
        # Bodies of the lazy population apart, pruned of expired entries whenever they double.
        self.lazy_cache = BodyCache()
        self._lazy_mark = LAZY_PRUNE_AT
        self.cache_scale = options.cache_scale
        self.route_scales = dict(options.route_cache_scales)
        unknown = set(self.route_scales) - {route.name for route in ROUTES}
        if unknown:
            raise ValueError(f"no route named {', '.join(sorted(unknown))} to scale the cache of")
        self.tax_percent = options.tax_rates_as == "percent"

    def ttl(self, route: Route) -> float:
        """The route's cache time, scaled by its own multiplier or the simulator's."""
        return (route.ttl or 0) * self.route_scales.get(route.name, self.cache_scale)

    def get(self, route: Route, entity_id: int | None, path: str, date: str) -> Answer:
        """Answer a GET on a matched route."""
        if route.name == "killmail":
            return self._killmail(route, entity_id or 0, path, date)
        found = self._lookup(route.name, entity_id or 0, date)
        if isinstance(found, Answer):
            return found
        revision, variant, render = found
        ttl = self.ttl(route)
        if self._is_lazy(route.name, entity_id or 0):
            entry = self._lazy_entry((path, variant), revision, ttl, render)
        else:
            entry = self.cache.get((path, variant), revision, self.clock(), ttl, render)
        return Answer(200, entry.data, entry.body, entry)

    def _is_lazy(self, name: str, eid: int) -> bool:
        uni, pop = self.universe, self.population
        if name in ("character", "corporation_history"):
            return pop.character_index(eid) is not None and eid not in uni.characters
        if name in ("corporation", "alliance_history"):
            return pop.corporation_index(eid) is not None and eid not in uni.corporations
        return False

    def _lazy_entry(self, key: tuple[str, int], revision: int, ttl: float,
                    render: Callable[[], Any]) -> Entry:
        # The population's bodies never change until materialised, so an expired one is only dropped:
        # a cache of every body a long run asked for would hold millions.
        now = self.clock()
        entry = self.lazy_cache.get(key, revision, now, ttl, render)
        if len(self.lazy_cache) > self._lazy_mark:
            self.lazy_cache.prune(now)
            self._lazy_mark = max(LAZY_PRUNE_AT, 2 * len(self.lazy_cache))
        return entry

    def _killmail(self, route: Route, eid: int, path: str, date: str) -> Answer:
        self.feed.catch_up()
        seq = self.feed.by_killmail.get(eid)
        package = None if seq is None else self.feed.packages[seq]
        if package is None or path.rsplit("/", 1)[-1] != package.hash:
            return error_answer(422, _KILLMAIL_INVALID, date)
        ttl = self.ttl(route)
        # A killmail never changes (zKillboard's block does, ESI's body not): one revision forever.
        entry = self.cache.get((path, 1), 0, self.clock(), ttl, lambda: package.esi)
        return Answer(200, entry.data, entry.body, entry)

    def character(self, eid: int) -> Character | None:
        """A character of the universe, an ordinary pilot of the roster or one of the lazy population."""
        found = self.universe.characters.get(eid) or self.roster.character(eid)
        return found or self.population.character(eid)

    def _lookup(self, name: str, eid: int, date: str) -> Answer | tuple[int, int, Callable[[], Any]]:
        uni = self.universe
        if name == "alliances":
            return uni.revision(("alliances", 0)), 1, uni.active_alliance_ids
        if name == "status":
            players = 20_000 + (self.downtime.generation * 7919) % 15_000
            return self.downtime.revision(), 1, lambda: self.downtime.status_body(players)
        if name in ("alliance", "alliance_corporations"):
            alliance = uni.alliances.get(eid)
            if alliance is None:
                return error_answer(404, _NOT_FOUND["alliance"], date)
            if name == "alliance":
                return uni.revision(("alliance", eid)), 1, lambda: schemas.alliance(alliance)
            return uni.revision(("alliance_corporations", eid)), 1, lambda: sorted(alliance.members)
        if name in ("corporation", "alliance_history"):
            corp = uni.corporation(eid)
            if corp is None:
                return error_answer(404, _NOT_FOUND["corporation"], date)
            if name == "alliance_history":
                rows = corp.alliance_history
                return uni.revision((name, eid)), 1, lambda: schemas.alliance_history(uni, rows)
            v, pct = schemas.variant("corporation", date), self.tax_percent
            return uni.revision(("corporation", eid)), v, lambda: schemas.corporation(corp, v, pct)
        return self._character(name, eid, date)

    def _character(self, name: str, eid: int, date: str) -> Answer | tuple[int, int, Callable[[], Any]]:
        uni = self.universe
        char = self.character(eid)
        if char is None or char.npc:
            return error_answer(404, _NOT_FOUND["character"], date)
        if char.deleted:
            return error_answer(404, "Character has been deleted!", date)
        # An ordinary pilot's answers change when its corporation closes, which touches no revision.
        k = self.roster.index_of(eid)
        moved = 0 if k is None else self.roster.revision(k)
        if name == "corporation_history":
            return (uni.revision((name, eid)) + moved, 1,
                    lambda: schemas.corporation_history(uni, char.corp_history))
        v = schemas.variant("character", date)
        return (uni.revision(("character", eid)) + moved, v,
                lambda: schemas.character(char, uni.alliance_of_character(char), v))

    def post(self, route: Route, raw: bytes, date: str) -> Answer:
        """Answer `POST /universe/names` or `POST /characters/affiliation`."""
        ids = parse_id_list(raw)
        if isinstance(ids, str):
            return error_answer(400, ids, date)
        if route.name == "names":
            return self._names(ids, date)
        data = [self._affiliation(i) for i in ids]
        rows = [row for row in data if row is not None]
        expires = math.ceil(self.clock() + self.ttl(route))
        return Answer(200, rows, dumps(rows), expires_text=http_date(expires), expires_at=expires)

    def _names(self, ids: list[int], date: str) -> Answer:
        uni, rows = self.universe, []
        for eid in ids:
            if eid in uni.alliances:
                rows.append({"category": "alliance", "id": eid, "name": uni.alliances[eid].name})
            elif (corp := uni.corporation(eid)) is not None:
                rows.append({"category": "corporation", "id": eid, "name": corp.name})
            elif (char := self.character(eid)) is not None:
                rows.append({"category": "character", "id": eid, "name": char.name})
            elif eid in uni.factions:
                rows.append({"category": "faction", "id": eid, "name": uni.factions[eid]})
            else:
                return error_answer(404, _NAMES_INVALID, date)
        return Answer(200, rows, dumps(rows))

    def _affiliation(self, eid: int) -> dict[str, int] | None:
        k = self.population.character_index(eid)
        if k is not None and eid not in self.universe.characters:
            # Its corporation only, not its whole body: a sweep of millions asks for nothing else. The
            # population's corporations and the starter ones are in no alliance.
            return {"character_id": eid, "corporation_id": self.population.corporation_of(k)}
        # Unknown ids are left out of the answer rather than failing the batch (unlike /universe/names).
        char = self.character(eid)
        if char is None:
            return None
        row = {"character_id": eid, "corporation_id": char.corporation_id}
        alliance_id = self.universe.alliance_of_character(char)
        if alliance_id is not None:
            row["alliance_id"] = alliance_id
        if char.faction_id is not None and not char.deleted:
            row["faction_id"] = char.faction_id
        return row


def parse_id_list(raw: bytes) -> list[int] | str:
    """The ids of a POST body, or the reason it is refused: 1..1000 unique positive 64-bit integers."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return "Invalid body: not JSON"
    if not isinstance(data, list):
        return "Invalid body: expected an array of integers"
    if not data:
        return "Invalid body: at least 1 id is required"
    if len(data) > 1000:
        return "Invalid body: at most 1000 ids are allowed"
    if any(isinstance(x, bool) or not isinstance(x, int) or not 0 < x <= MAX_ID for x in data):
        return "Invalid body: every id must be a positive 64-bit integer"
    if len(set(data)) != len(data):
        return "Invalid body: ids must be unique"
    return data
