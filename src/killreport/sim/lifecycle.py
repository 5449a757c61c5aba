"""Changes in the life of alliances, corporations and characters: founding, disbanding, closing, moving,
biomassing, executor changes. Each picks its target, watches what it will affect, then changes it; it
returns the subject ids for the log, or None (having changed nothing) when nothing fits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from killreport.sim.changelog import ChangeRecord
from killreport.sim.game import Game


def found_alliance(g: Game, rec: ChangeRecord) -> dict[str, int] | None:
    """A new corporation founds an alliance; an existing alliance-less corporation, if any, joins it."""
    uni = g.uni
    independents = g.corporation_ids(in_alliance=False)
    joiner = uni.corporations[g.rng.choice(independents)] if independents else None
    if joiner is not None:
        rec.watch("corporation", joiner.id)
        rec.watch("character", *sorted(g.members[joiner.id]))
    founder = g.new_corporation()
    alliance = g.new_alliance(founder)
    rec.watch_new("alliance", alliance.id)
    rec.watch_new("corporation", founder.id)
    rec.watch_new("character", founder.ceo_id)
    if joiner is not None:
        g.set_alliance(joiner, alliance)
    return {"alliance_id": alliance.id, "corporation_id": founder.id}


def disband_alliance(g: Game, rec: ChangeRecord) -> dict[str, int] | None:
    """An alliance closes: its members leave, it drops out of the list and its history rows say deleted."""
    uni = g.uni
    active = uni.active_alliance_ids()
    pool = [a for a in active if uni.alliances[a].members] or active
    if not pool:
        return None
    alliance = uni.alliances[g.rng.choice(pool)]
    rec.watch("alliance", alliance.id)
    rec.watch("corporation", *alliance.members)
    for corp_id in alliance.members:
        rec.watch("character", *sorted(g.members[corp_id]))
    rec.watch("corporation", *g.corporations_with_history_of(alliance.id))
    for corp_id in list(alliance.members):
        g.set_alliance(uni.corporations[corp_id], None)
    alliance.executor_corporation_id = None
    alliance.closed = True
    return {"alliance_id": alliance.id}


def close_corporation(g: Game, rec: ChangeRecord) -> dict[str, int] | None:
    """A corporation closes: it leaves its alliance, its characters go to NPC corporations, CEO becomes 1."""
    uni = g.uni
    pool = g.corporation_ids(in_alliance=True) or g.corporation_ids(in_alliance=False)
    if not pool:
        return None
    corp = uni.corporations[g.rng.choice(pool)]
    rec.watch("corporation", corp.id)
    if corp.alliance_id is not None:
        rec.watch("alliance", corp.alliance_id)
    characters = sorted(g.members[corp.id])
    rec.watch("character", *characters, *g.characters_with_history_of(corp.id))
    if corp.alliance_id is not None:
        g.set_alliance(corp, None)
    g.close(corp)
    for char_id in characters:
        g.move_character(uni.characters[char_id], g.rng.choice(uni.starter_corporations))
    return {"corporation_id": corp.id}


def move_character(g: Game, rec: ChangeRecord) -> dict[str, int] | None:
    """A character (a stored one if possible, never a CEO) joins another corporation, or an NPC one."""
    uni = g.uni
    char = g.lazy_character(ceos=False)
    pool = [] if char is not None else g.player_characters(ceos=False)
    if char is None and not pool:
        return None
    char = char or uni.characters[g.rng.choice(pool)]
    in_alliances = [c for c in g.corporation_ids(in_alliance=True) if c != char.corporation_id]
    npc = [c for c in uni.starter_corporations if c != char.corporation_id]
    target = g.rng.choice(in_alliances if in_alliances and g.rng.random() < 0.7 else npc)
    rec.watch("character", char.id)
    rec.watch("corporation", char.corporation_id, target)
    g.move_character(char, target)
    return {"character_id": char.id, "corporation_id": target}


def biomass_character(g: Game, rec: ChangeRecord) -> dict[str, int] | None:
    """A character (a stored one if possible) is deleted; affiliation then shows a starter NPC corporation."""
    uni = g.uni
    # The population's CEOs stay: its corporations derive their CEO from their first member.
    char = g.lazy_character(ceos=False)
    pool = [] if char is not None else g.player_characters(ceos=True)
    if char is None and not pool:
        return None
    char = char or uni.characters[g.rng.choice(pool)]
    rec.watch("character", char.id)
    rec.watch("corporation", char.corporation_id)
    g.move_character(char, g.rng.choice(uni.starter_corporations), recorded=False)
    char.deleted = True
    return {"character_id": char.id}


def executor(g: Game, rec: ChangeRecord) -> dict[str, int] | None:
    """Another member corporation becomes an alliance's executor."""
    uni = g.uni
    pool = [a for a in uni.active_alliance_ids()
            if any(m != uni.alliances[a].executor_corporation_id for m in uni.alliances[a].members)]
    if not pool:
        return None
    alliance = uni.alliances[g.rng.choice(pool)]
    rec.watch("alliance", alliance.id)
    alliance.executor_corporation_id = g.rng.choice(
        [m for m in alliance.members if m != alliance.executor_corporation_id])
    return {"alliance_id": alliance.id, "corporation_id": alliance.executor_corporation_id}


LIFECYCLE: Final[dict[str, Callable[[Game, ChangeRecord], dict[str, int] | None]]] = {
    "found_alliance": found_alliance, "disband_alliance": disband_alliance,
    "close_corporation": close_corporation, "move_character": move_character,
    "biomass_character": biomass_character, "executor": executor,
}
