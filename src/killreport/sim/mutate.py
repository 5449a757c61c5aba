"""Change the universe the way the game does, by kind; every change is logged field by field.

Without `kinds` a call draws from the original mix (hops, CEO changes, member counts, renames) with the
same random sequence as before the other kinds existed, so a seed still gives the same changes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from killreport.sim import strings
from killreport.sim.changelog import ChangeRecord
from killreport.sim.game import Game
from killreport.sim.lifecycle import LIFECYCLE
from killreport.sim.model import Corporation, Universe
from killreport.sim.population import Population


def hop(g: Game, rec: ChangeRecord, corp: Corporation) -> None:
    """`corp` leaves its alliance for another one (70 %) or for none."""
    uni = g.uni
    old = uni.alliances[corp.alliance_id or 0]
    targets = [a for a in uni.alliances.values() if not a.closed and a.id != old.id]
    new = g.rng.choice(targets) if targets and g.rng.random() < 0.7 else None
    rec.watch("alliance", old.id, *([] if new is None else [new.id]))
    rec.watch("corporation", corp.id)
    rec.watch("character", *sorted(g.members[corp.id]))
    g.set_alliance(corp, new)


def ceo(g: Game, rec: ChangeRecord, corp: Corporation) -> None:
    """A new character becomes `corp`'s CEO."""
    rec.watch("corporation", corp.id)
    char = g.new_character(corp.id)
    rec.watch_new("character", char.id)
    corp.ceo_id = char.id


def members(g: Game, rec: ChangeRecord, corp: Corporation) -> None:
    """`corp`'s member count moves."""
    rec.watch("corporation", corp.id)
    corp.member_count = max(1, corp.member_count + g.rng.choice((-3, -1, 1, 2, 5, 20)))


def rename(g: Game, rec: ChangeRecord, corp: Corporation) -> None:
    """`corp` takes a new name and ticker (70 %), or its CEO a new name."""
    rng = g.rng
    if rng.random() < 0.7:
        rec.watch("corporation", corp.id)
        corp.name = strings.entity_name(rng, "corporation")
        corp.ticker = strings.ticker(rng)
        return
    char = g.uni.characters.get(corp.ceo_id)
    if char is not None and not char.deleted:
        rec.watch("character", char.id)
        char.name = strings.entity_name(rng, "character")


CORPORATION_KINDS: Final[dict[str, Callable[[Game, ChangeRecord, Corporation], None]]] = {
    "hop": hop, "ceo": ceo, "members": members, "rename": rename,
}
KINDS: Final = (*CORPORATION_KINDS, *LIFECYCLE)
_DEFAULT_MIX: Final = (("hop", "ceo", "members", "rename"), (3, 2, 3, 2))


class Mutator:
    """Applies game-like changes and marks every changed resource so caches re-render it."""

    def __init__(self, universe: Universe, rng: random.Random, clock: Callable[[], float] = time.time,
                 pilots: int = 0, population: Population | None = None) -> None:
        self.game = Game(universe, rng, clock, pilots, population)

    def mutate(self, count: int, kinds: Sequence[str] | None = None) -> dict[str, Any]:
        """Apply `count` changes of `kinds` (default: the original mix); the ids changed and the log."""
        # A requested kind that finds nothing to act on is skipped (the log lists only what happened); the
        # default mix stops, as it always did, once no corporation in an alliance is left.
        unknown = [k for k in kinds or () if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown change kinds {unknown}; expected some of {list(KINDS)}")
        log: list[dict[str, Any]] = []
        for _ in range(count):
            entry = self._one(kinds)
            if entry is None and not kinds:
                break
            if entry is not None:
                log.append(entry)
        changed: dict[str, set[int]] = {"alliances": set(), "corporations": set(), "characters": set()}
        for entry in log:
            for key, ids in entry["touched"].items():
                changed[key].update(ids)
        return {key: sorted(ids) for key, ids in changed.items()} | {"changes": log}

    def _one(self, kinds: Sequence[str] | None) -> dict[str, Any] | None:
        g = self.game
        kind = g.rng.choice(kinds) if kinds else g.rng.choices(*_DEFAULT_MIX)[0]
        rec = ChangeRecord(g.uni, kind)
        if kind in CORPORATION_KINDS:
            # Hops and CEO changes need an alliance or the eager roster; counts and names do not.
            corp = g.lazy_corporation() if kind in ("members", "rename") else None
            corp = corp or g.active_corporation()
            if corp is None:
                return None
            CORPORATION_KINDS[kind](g, rec, corp)
            return rec.finish({"corporation_id": corp.id})
        subject = LIFECYCLE[kind](g, rec)
        return None if subject is None else rec.finish(subject)
