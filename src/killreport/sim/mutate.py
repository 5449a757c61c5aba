"""Change the universe the way the game does: corporation hops, CEO changes, member counts, renames."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from typing import Any

from killreport.sim import strings
from killreport.sim.model import Character, Corporation, Universe


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Mutator:
    """Applies random game-like changes and marks every touched resource so caches re-render it."""

    def __init__(self, universe: Universe, rng: random.Random) -> None:
        self.uni = universe
        self.rng = rng
        self.members: defaultdict[int, set[int]] = defaultdict(set)
        for char in universe.characters.values():
            self.members[char.corporation_id].add(char.id)

    def mutate(self, count: int) -> dict[str, Any]:
        """Apply `count` changes; return the ids changed by kind and one line per change."""
        changed: dict[str, set[int]] = {"alliances": set(), "corporations": set(), "characters": set()}
        log: list[dict[str, Any]] = []
        kinds = ("hop", "ceo", "members", "rename")
        for _ in range(count):
            kind = self.rng.choices(kinds, weights=(3, 2, 3, 2))[0]
            corp = self._active_corporation()
            if corp is None:
                break
            getattr(self, f"_{kind}")(corp, changed)
            log.append({"change": kind, "corporation_id": corp.id})
        return {key: sorted(ids) for key, ids in changed.items()} | {"changes": log}

    def _active_corporation(self) -> Corporation | None:
        corps = [c for c in self.uni.corporations.values() if not c.closed and not c.npc and c.alliance_id]
        return self.rng.choice(corps) if corps else None

    def _hop(self, corp: Corporation, changed: dict[str, set[int]]) -> None:
        uni = self.uni
        old = uni.alliances[corp.alliance_id or 0]
        old.members.remove(corp.id)
        touched = [old.id]
        if old.executor_corporation_id == corp.id:
            old.executor_corporation_id = max(
                old.members, key=lambda c: uni.corporations[c].member_count) if old.members else None
        targets = [a for a in uni.alliances.values() if not a.closed and a.id != old.id]
        new = self.rng.choice(targets) if targets and self.rng.random() < 0.7 else None
        corp.alliance_id = None if new is None else new.id
        if new is not None:
            new.members = sorted([*new.members, corp.id])
            touched.append(new.id)
        corp.alliance_history.append((uni.new_record_id(), _now_iso(), corp.alliance_id))
        for alliance_id in touched:
            uni.touch(("alliance", alliance_id), ("alliance_corporations", alliance_id))
            changed["alliances"].add(alliance_id)
        uni.touch(("corporation", corp.id), ("alliance_history", corp.id))
        changed["corporations"].add(corp.id)
        for char_id in self.members[corp.id]:
            uni.touch(("character", char_id))
            changed["characters"].add(char_id)

    def _ceo(self, corp: Corporation, changed: dict[str, set[int]]) -> None:
        uni = self.uni
        char_id = self.rng.randrange(2_100_000_000, 2_130_000_000)
        while char_id in uni.characters:
            char_id += 1
        char = Character(char_id, strings.entity_name(self.rng, "character"), _now_iso(), 1, 1, corp.id,
                         self.rng.choice(("male", "female")), achievement_score=self.rng.randint(0, 500),
                         security_status=0.0)
        char.corp_history.append((uni.new_record_id(), char.birthday, corp.id))
        uni.characters[char_id] = char
        self.members[corp.id].add(char_id)
        corp.ceo_id = char_id
        uni.touch(("corporation", corp.id))
        changed["corporations"].add(corp.id)
        changed["characters"].add(char_id)

    def _members(self, corp: Corporation, changed: dict[str, set[int]]) -> None:
        corp.member_count = max(1, corp.member_count + self.rng.choice((-3, -1, 1, 2, 5, 20)))
        self.uni.touch(("corporation", corp.id))
        changed["corporations"].add(corp.id)

    def _rename(self, corp: Corporation, changed: dict[str, set[int]]) -> None:
        uni = self.uni
        if self.rng.random() < 0.7:
            corp.name = strings.entity_name(self.rng, "corporation")
            corp.ticker = strings.ticker(self.rng)
            uni.touch(("corporation", corp.id))
            changed["corporations"].add(corp.id)
            return
        char = uni.characters.get(corp.ceo_id)
        if char is not None and not char.deleted:
            char.name = strings.entity_name(self.rng, "character")
            uni.touch(("character", char.id))
            changed["characters"].add(char.id)
