"""The simulator's whole state in one object, built from options and handed to the HTTP layer."""

from __future__ import annotations

import random
import time
from array import array
from typing import Any, Final

from aiohttp import web

from killreport.sim import schemas
from killreport.sim.downtime import Downtime
from killreport.sim.faults import FaultSettings, Overrides
from killreport.sim.feed import KillFeed
from killreport.sim.kills import Everyone
from killreport.sim.limits import Clock, ErrorLimiter, RateCounter, TokenBuckets
from killreport.sim.mutate import Mutator
from killreport.sim.options import BucketSpec, SimOptions, parse_bucket
from killreport.sim.population import Population, reserved_blocks
from killreport.sim.resources import LAZY_PRUNE_AT, Resources
from killreport.sim.roster import Roster
from killreport.sim.routes import route_for_template
from killreport.sim.stats import Stats
from killreport.sim.truth import referenced_characters
from killreport.sim.universe import generate, referenced_corporations


class Sim:
    """Universe, limits, faults, stats and caches of one simulator; no globals, one per server."""

    def __init__(self, options: SimOptions, clock: Clock = time.time) -> None:
        self.options = options
        self.clock = clock
        self.universe = generate(options.seed, options.alliances, options.deleted_count, reserved_blocks(
            options.population_characters, options.population_corporations))
        self.faults = FaultSettings.from_options(options)
        self.overrides = Overrides()
        self.errors = ErrorLimiter(options.error_window_s, options.error_budget, clock)
        self.buckets = TokenBuckets(clock)
        self.bucket_of = bucket_map(options.buckets)
        # Its limit is the fault setting `history_per_min`, which the control API may change.
        self.history_requests = RateCounter(60.0, options.history_per_min, clock)
        self.stats = Stats(clock)
        self.downtime = Downtime(clock, options.daily_downtime_s, options.daily_vip_s,
                                 options.daily_downtime_at_s)
        self.roster = Roster(options.seed, self.universe)
        self.population = Population(options.seed, options.population_characters,
                                     options.population_corporations, self.universe)
        self.feed = KillFeed(options, clock, Everyone(self.universe, self.roster, self.population))
        self.r2z2_requests = RateCounter(1.0, options.r2z2_per_s, clock)
        self.resources = Resources(self.universe, options, clock, self.downtime, self.roster, self.feed,
                                   self.population)
        self.mutator = Mutator(self.universe, random.Random(options.seed * 7 + 2), clock, self.roster.size,
                               self.population)
        self.rng = random.Random(options.seed * 7 + 1)
        # The Expires each client was handed per canonical path, to catch requests made before it.
        self.handed_out: dict[tuple[str, str], int] = {}
        self._handed_out_mark = LAZY_PRUNE_AT
        # The same for each character id an affiliation answer covered (ESI's cache key is unknown).
        self.affiliation_handed_out: dict[tuple[str, int], int] = {}
        # The same for the population's characters: one 32-bit Expires each per IP in an array, as a
        # dict entry each would cost gigabytes for a sweep of 20 million.
        self.population_handed_out: dict[str, array[int]] = {}
        # Every id any truth so far listed, by section; None until the first mutation (until then the
        # truth is all there ever was). A copy keeps what the game retired since: see `ever`.
        self.ever_listed: dict[str, set[int]] | None = None

    def mutate(self, count: int, kinds: list[str] | None = None) -> dict[str, Any]:
        """Apply changes (Mutator.mutate), remembering every entity the truth listed before and after."""
        if self.ever_listed is None:
            self.ever_listed = self.listed()
        changes = self.mutator.mutate(count, kinds)
        for section, ids in self.listed().items():
            self.ever_listed[section] |= ids
        return changes

    def listed(self) -> dict[str, set[int]]:
        """The ids the truth lists now: active alliances, referenced corporations and characters."""
        uni = self.universe
        characters = {c for c in referenced_characters(uni)
                      if c in uni.characters and not uni.characters[c].npc}
        return {"alliances": set(uni.active_alliance_ids()), "corporations": referenced_corporations(uni),
                "characters": characters}

    def ever(self) -> dict[str, Any]:
        """The current body of every entity any truth so far listed, retired ones included.

        Closed alliances (no executor, no members), corporations that left every alliance or closed,
        and characters; deleted characters are listed apart in `deleted_characters`, as ESI serves them
        no body. Shaped like the truth's own sections.
        """
        uni, tax_percent = self.universe, self.resources.tax_percent
        listed = self.ever_listed if self.ever_listed is not None else self.listed()
        alliances = sorted(listed["alliances"])
        characters = [uni.characters[c] for c in sorted(listed["characters"])]
        return {
            "alliances": {str(a): schemas.alliance(uni.alliances[a]) for a in alliances},
            "alliance_corporations": {str(a): sorted(uni.alliances[a].members) for a in alliances},
            "corporations": {str(c): schemas.corporation(uni.corporations[c], 2, tax_percent)
                             for c in sorted(listed["corporations"])},
            "characters": {str(c.id): schemas.character(c, uni.alliance_of_character(c), 2)
                           for c in characters if not c.deleted},
            "deleted_characters": [c.id for c in characters if c.deleted],
        }

    def history(self, kind: str, eid: int) -> list[dict[str, Any]] | None:
        """The truth of one history, as its route renders it now (newest first), whatever the cache holds.

        `kind` is `character` or `corporation`; None for an id that has no such history (unknown,
        NPC). A deleted character's is given too, although its route answers 404.
        """
        uni = self.universe
        if kind == "corporation":
            corp = uni.corporation(eid)
            return None if corp is None else schemas.alliance_history(uni, corp.alliance_history)
        char = self.resources.character(eid)
        if char is None or char.npc:
            return None
        return schemas.corporation_history(uni, char.corp_history)

    def truth_of(self, characters: list[int], corporations: list[int]) -> dict[str, Any]:
        """The truth of given ids, eager or lazy, as their routes render them now at the current schema.

        `missing` lists the ids that answer 404 (unknown, NPC); deleted characters are listed apart, as
        for the whole truth. Lets a test or a bench compare a copy of a 20-million population with the
        simulator without listing it.
        """
        uni, res = self.universe, self.resources
        out: dict[str, Any] = {"characters": {}, "deleted_characters": [], "corporations": {},
                               "missing": {"characters": [], "corporations": []}}
        for eid in characters:
            char = res.character(eid)
            if char is None or char.npc:
                out["missing"]["characters"].append(eid)
            elif char.deleted:
                out["deleted_characters"].append(eid)
            else:
                out["characters"][str(eid)] = schemas.character(char, uni.alliance_of_character(char), 2)
        for eid in corporations:
            corp = uni.corporation(eid)
            if corp is None:
                out["missing"]["corporations"].append(eid)
            else:
                out["corporations"][str(eid)] = schemas.corporation(corp, 2, res.tax_percent)
        return out

    def histories(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """The truth of every history a copy may hold: of each corporation and character any truth listed."""
        listed = self.ever_listed if self.ever_listed is not None else self.listed()
        out: dict[str, dict[str, list[dict[str, Any]]]] = {"corporations": {}, "characters": {}}
        for section, kind in (("corporations", "corporation"), ("characters", "character")):
            for eid in sorted(listed[section]):
                rows = self.history(kind, eid)
                if rows is not None:
                    out[section][str(eid)] = rows
        return out

    def hand_out(self, ip: str, path: str, expires: int) -> None:
        """Remember the Expires this IP was handed for `path`; expired ones are dropped when they pile up."""
        self.handed_out[(ip, path)] = expires
        if len(self.handed_out) > self._handed_out_mark:
            # An expired Expires can flag no request: dropping it changes nothing but the memory.
            now = self.clock()
            self.handed_out = {key: at for key, at in self.handed_out.items() if now < at}
            self._handed_out_mark = max(LAZY_PRUNE_AT, 2 * len(self.handed_out))

    def is_cache_violation(self, ip: str, path: str) -> bool:
        """Whether this IP asks for `path` before the Expires it was given for it."""
        expires = self.handed_out.get((ip, path))
        return expires is not None and self.clock() < expires

    def early_affiliation_ids(self, ip: str, ids: list[int], expires: int) -> int:
        """How many of `ids` this IP asks affiliation for before their last Expires; records the new one."""
        now, early, pop = self.clock(), 0, self.population
        for char_id in ids:
            k = pop.character_index(char_id)
            if k is not None:
                seen = self._population_seen(ip)
                early += now < seen[k]
                seen[k] = expires
                continue
            if now < self.affiliation_handed_out.get((ip, char_id), 0):
                early += 1
            self.affiliation_handed_out[(ip, char_id)] = expires
        return early

    def _population_seen(self, ip: str) -> array[int]:
        seen = self.population_handed_out.get(ip)
        if seen is None:
            seen = self.population_handed_out[ip] = array("I", bytes(4 * self.population.characters))
        return seen


# What CCP's spec declares for the killmail route; unlike the others it is always on, as the route is new
# and every client of it must meet the bucket.
KILLMAIL_BUCKET: Final = parse_bucket("killmail:/killmails/{killmail_id}/{killmail_hash}=3600/15m")


def bucket_map(specs: tuple[BucketSpec, ...]) -> dict[str, BucketSpec]:
    """Route name → its token-bucket group (killmail's always); ValueError for a template no route has."""
    out: dict[str, BucketSpec] = {"killmail": KILLMAIL_BUCKET}
    for spec in specs:
        for template in spec.routes:
            route = route_for_template(template)
            if route is None:
                raise ValueError(f"bucket {spec.group}: no route {template}")
            out[route.name] = spec
    return out


SIM_KEY: Final = web.AppKey("sim", Sim)
