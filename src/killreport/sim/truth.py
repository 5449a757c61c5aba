"""What a complete sync must store, rendered exactly as ESI serves it at the current compatibility date."""

from __future__ import annotations

from typing import Any

from killreport.ids import is_special
from killreport.sim import schemas
from killreport.sim.model import Universe
from killreport.sim.universe import referenced_corporations


def referenced_characters(uni: Universe) -> set[int]:
    """Alliance creators and the CEOs and creators of the referenced corporations (any, even deleted)."""
    out = {a.creator_id for a in uni.alliances.values() if not a.closed}
    for corp_id in referenced_corporations(uni):
        corp = uni.corporations[corp_id]
        out.update((corp.ceo_id, corp.creator_id))
    return {c for c in out if not is_special("character", c)}


def truth(uni: Universe, tax_percent: bool = True) -> dict[str, Any]:
    """The truth document: alliances, their member lists, corporations, characters and deleted ids."""
    alliance_ids = uni.active_alliance_ids()
    characters: dict[str, Any] = {}
    deleted: list[int] = []
    for char_id in sorted(referenced_characters(uni)):
        char = uni.characters.get(char_id)
        if char is None or char.npc:
            continue
        if char.deleted:
            deleted.append(char_id)
            continue
        characters[str(char_id)] = schemas.character(char, uni.alliance_of_character(char), 2)
    return {
        "compatibility_date": schemas.CURRENT_DATE,
        "alliances": {str(a): schemas.alliance(uni.alliances[a]) for a in alliance_ids},
        "alliance_corporations": {str(a): sorted(uni.alliances[a].members) for a in alliance_ids},
        "corporations": {str(c): schemas.corporation(uni.corporations[c], 2, tax_percent)
                         for c in sorted(referenced_corporations(uni))},
        "characters": characters,
        "deleted_characters": deleted,
    }
