"""Kills, generated deterministically from the seed, the sequence number and who is where at that moment.

Pure: no clock and no I/O. `Everyone` draws participants from the universe's current state (so a
mutation that moves a corporation shows on later kills); `new_kill` builds the ESI killmail and zKillboard's
`zkb` block around them.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any, Final

from killreport.sim.model import Universe
from killreport.sim.population import CHARACTER_BASE, Population
from killreport.sim.roster import ROSTER_BASE, Roster
from killreport.sim.universe import iso

# Small fixed lists of real type ids: enough variety for a reader, nothing a test must know.
SHIPS: Final = (587, 603, 597, 593, 626, 24698, 24702, 638, 641, 642, 639, 12005, 29990, 22456, 670,
                32880, 28606, 23913)
STRUCTURES: Final = (35832, 35833, 35825, 35835, 35826)
WEAPONS: Final = (3082, 2889, 3186, 2456, 24473, 2929, 2488, 3146)
NPC_SHIPS: Final = (13537, 17705, 33470, 23707, 11965)
SYSTEMS: Final = (30000142, 30002187, 30002053, 30004759, 30002813, 31000005, 30003504, 30045329,
                  30001161, 30000144)
KILLMAIL_ID_OFFSET: Final = 130_000_000  # killmail id = this + sequence number
LATE_MIN_S: Final = 3600
LATE_MAX_S: Final = 72 * 3600
ON_TIME_MAX_S: Final = 600  # kills that are not late reach the feed within ten minutes
_STRUCTURE_SHARE: Final = 0.05
_NPC_ATTACKER_SHARE: Final = 0.12
_LABELS_BY_SYSTEM: Final = {30000142: "highsec", 30002187: "highsec", 30002053: "highsec",
                            30001161: "highsec", 30000144: "highsec", 30002813: "lowsec",
                            30003504: "lowsec", 30004759: "nullsec", 30045329: "nullsec", 31000005: "w-space"}


def kill_hash(seed: int, killmail_id: int) -> str:
    """The killmail's hash: 40 hex digits, fixed by the seed and the id."""
    return hashlib.blake2b(f"{seed}:{killmail_id}".encode(), digest_size=20).hexdigest()


class Everyone:
    """Every player character (the universe's, the roster's, the population's), NPC corporations, factions."""

    def __init__(self, universe: Universe, roster: Roster, population: Population | None = None) -> None:
        self.universe = universe
        self.roster = roster
        self.population = population or Population(roster.seed, 0, 0, universe)
        starters = set(universe.starter_corporations)
        # NPC attackers belong to the universe's NPC corporations, so a reader can resolve them on ESI.
        self.npc_corporations = sorted(c.id for c in universe.corporations.values()
                                       if c.npc and c.id not in starters)
        self.factions = sorted(universe.factions)
        self._named: list[int] = []
        self._known = -1

    def _players(self) -> list[int]:
        # Characters are never removed, so a changed count means a mutation created some: list them again.
        uni = self.universe
        if len(uni.characters) != self._known:
            # Materialised population characters are drawn as the population's, not twice.
            lazy = self.population.character_index
            self._named = sorted(c.id for c in uni.characters.values() if not c.npc and lazy(c.id) is None)
            self._known = len(uni.characters)
        return self._named

    def pick(self, rng: random.Random) -> dict[str, int]:
        """A character with the corporation, alliance and faction it holds now."""
        uni, named, population = self.universe, self._players(), self.population
        k = rng.randrange(len(named) + self.roster.size + population.characters)
        if k < len(named):
            char = uni.characters[named[k]]
            char_id, corp_id, faction = char.id, char.corporation_id, char.faction_id
        elif k < len(named) + self.roster.size:
            k -= len(named)
            char_id, corp_id, faction = ROSTER_BASE + k, self.roster.corporation_of(k), None
        else:
            k -= len(named) + self.roster.size
            char_id, corp_id, faction = CHARACTER_BASE + k, population.corporation_of(k), None
        return _affiliation({"character_id": char_id}, uni, corp_id, faction)

    def owner(self, rng: random.Random) -> dict[str, int]:
        """A structure's owner: someone's corporation and alliance, no character."""
        found = self.pick(rng)
        return {k: v for k, v in found.items() if k != "character_id"}


def _affiliation(row: dict[str, int], uni: Universe, corp_id: int, faction: int | None) -> dict[str, int]:
    row["corporation_id"] = corp_id
    corp = uni.corporations.get(corp_id)
    if corp is not None and corp.alliance_id is not None:
        row["alliance_id"] = corp.alliance_id
    if faction is not None:
        row["faction_id"] = faction
    return row


@dataclass(frozen=True, slots=True)
class Kill:
    """One kill as the feed publishes it: the ESI killmail and zKillboard's block."""

    killmail_id: int
    hash: str
    esi: dict[str, Any]
    zkb: dict[str, Any]
    killmail_time: int


def new_kill(seed: int, sequence: int, published_at: int, late: bool | None, late_share: float,
             everyone: Everyone) -> Kill:
    """The kill published as `sequence`: the same for the same seed, sequence and universe state."""
    rng = random.Random(seed * 1_000_000_007 + sequence)
    killmail_id = KILLMAIL_ID_OFFSET + sequence
    is_late = rng.random() < late_share if late is None else late
    delay = rng.randint(LATE_MIN_S, LATE_MAX_S) if is_late else rng.randint(0, ON_TIME_MAX_S)
    killed_at = published_at - delay
    attackers = _attackers(rng, everyone)
    victim: dict[str, Any] = everyone.owner(rng) if rng.random() < _STRUCTURE_SHARE else everyone.pick(rng)
    victim["ship_type_id"] = rng.choice(SHIPS if "character_id" in victim else STRUCTURES)
    victim["damage_taken"] = sum(a["damage_done"] for a in attackers)
    victim["position"] = {axis: rng.uniform(-1e12, 1e12) for axis in "xyz"}
    if rng.random() < 0.7:
        victim["items"] = _items(rng)
    esi: dict[str, Any] = {"killmail_id": killmail_id, "killmail_time": iso(killed_at),
                           "solar_system_id": rng.choice(SYSTEMS), "victim": victim, "attackers": attackers}
    if rng.random() < 0.03:
        esi["war_id"] = rng.randint(700_000, 760_000)
    digest = kill_hash(seed, killmail_id)
    return Kill(killmail_id, digest, esi, zkb(rng, esi, digest), killed_at)


def _attackers(rng: random.Random, everyone: Everyone) -> list[dict[str, Any]]:
    count = 1 if rng.random() < 0.3 else min(60, int(rng.paretovariate(0.9)) + 1)
    rows: list[dict[str, Any]] = []
    for _ in range(count):
        if rng.random() < _NPC_ATTACKER_SHARE:
            row: dict[str, Any] = _npc(rng, everyone)
        else:
            row = dict(everyone.pick(rng))
            row["ship_type_id"] = rng.choice(SHIPS)
            row["weapon_type_id"] = rng.choice(WEAPONS)
        row["damage_done"] = rng.randint(0, 20_000)
        row["final_blow"] = False
        row["security_status"] = round(rng.uniform(-10, 5), 1)
        rows.append(row)
    rows[rng.randrange(count)]["final_blow"] = True
    rows.sort(key=lambda r: -r["damage_done"])  # ESI lists the biggest damage first
    return rows


def _npc(rng: random.Random, everyone: Everyone) -> dict[str, Any]:
    """An NPC attacker: no character; an NPC corporation, a faction or both."""
    roll = rng.random()
    row: dict[str, Any] = {"ship_type_id": rng.choice(NPC_SHIPS)}
    if roll < 0.7 or not everyone.factions:
        row["corporation_id"] = rng.choice(everyone.npc_corporations)
    if roll >= 0.4 and everyone.factions:
        row["faction_id"] = rng.choice(everyone.factions)
    return row


def _items(rng: random.Random) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for flag in rng.sample((11, 12, 19, 20, 27, 28, 87, 5), rng.randint(1, 4)):
        row = {"flag": flag, "item_type_id": rng.choice(WEAPONS), "singleton": 0}
        row["quantity_dropped" if rng.random() < 0.5 else "quantity_destroyed"] = rng.randint(1, 10)
        rows.append(row)
    return rows


def zkb(rng: random.Random, esi: dict[str, Any], digest: str) -> dict[str, Any]:
    """zKillboard's block for a killmail: values, points and labels."""
    attackers, victim = esi["attackers"], esi["victim"]
    players = [a for a in attackers if "character_id" in a]
    npc = not players
    solo = len(attackers) == 1 and not npc
    awox = any(a.get("corporation_id") == victim.get("corporation_id") for a in players)
    dropped, destroyed = round(rng.uniform(0, 5e8), 2), round(rng.uniform(1e5, 2e9), 2)
    labels = [f"cat:{6 if 'character_id' in victim else 65}", _size_label(len(attackers)),
              "npc" if npc else "pvp", f"loc:{_LABELS_BY_SYSTEM[esi['solar_system_id']]}"]
    labels += ["solo"] * solo + ["awox"] * awox
    out: dict[str, Any] = {
        "locationID": 40_000_000 + rng.randrange(500_000), "hash": digest,
        "fittedValue": round(destroyed * 0.6, 2), "droppedValue": dropped, "destroyedValue": destroyed,
        "totalValue": round(dropped + destroyed, 2), "points": 1 if npc else rng.randint(1, 500), "npc": npc,
        "solo": solo, "awox": awox, "labels": labels,
        "href": f"https://esi.evetech.net/v1/killmails/{esi['killmail_id']}/{digest}/"}
    if rng.random() < 0.8:
        out["attackerCount"] = len(attackers)
    return out


def _size_label(count: int) -> str:
    return "#:1" if count == 1 else "#:2+" if count < 5 else "#:5+" if count < 10 else "#:10+"


def revised(rng: random.Random, old: dict[str, Any]) -> dict[str, Any]:
    """A published kill's `zkb` after zKillboard re-prices it and relabels it (what republication shows)."""
    out = dict(old)
    dropped = round(old["droppedValue"] * rng.uniform(0.8, 1.25), 2)
    out["droppedValue"], out["totalValue"] = dropped, round(dropped + old["destroyedValue"], 2)
    out["labels"] = [*old["labels"], "reprice"] if "reprice" not in old["labels"] else old["labels"][:-1]
    return out
