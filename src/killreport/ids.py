"""Entity kinds and the id ranges ESI reserves, as pure functions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal, get_args

Kind = Literal["alliance", "corporation", "character"]
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
MAX_ID: Final = 2**63 - 1

EVE_SYSTEM: Final = 1
_NPC_CORPORATIONS: Final = range(1_000_000, 2_000_000)
_NPC_CHARACTERS: Final = range(3_000_000, 4_000_000)
_FACTIONS: Final = range(500_000, 600_000)


def parse_kind(text: str) -> Kind:
    """Return `text` as a Kind, or raise ValueError naming the valid kinds."""
    for kind in KINDS:
        if text == kind:
            return kind
    raise ValueError(f"unknown kind {text!r}; expected one of {', '.join(KINDS)}")


def parse_kinds(texts: Iterable[str]) -> tuple[Kind, ...]:
    """Kinds named on a command line (`all` means every kind), in cascade order; ValueError if none."""
    chosen: set[str] = set()
    for text in texts:
        if text != "all" and text not in KINDS:
            raise ValueError(f"unknown kind {text!r}; expected alliance, corporation, character or all")
        chosen.update(KINDS if text == "all" else (text,))
    if not chosen:
        raise ValueError("name at least one kind: alliance, corporation, character or all")
    return tuple(kind for kind in KINDS if kind in chosen)


def refusal(kind: Kind, entity_id: int) -> str | None:
    """Why `entity_id` is not worth requesting as a `kind`, or None when it is."""
    if not is_valid_id(entity_id):
        return f"{entity_id} is not a valid ESI id (1..{MAX_ID})"
    if is_special(kind, entity_id):
        return f"{entity_id} is a system or NPC id; ESI has no {kind} data worth fetching"
    return None


def is_special(kind: Kind, entity_id: int) -> bool:
    """True for ids that name no player entity (system, NPC, faction ids): never worth a request."""
    if entity_id <= EVE_SYSTEM or entity_id in _FACTIONS:
        return True
    if kind == "character":
        return entity_id in _NPC_CHARACTERS
    if kind == "corporation":
        return entity_id in _NPC_CORPORATIONS
    return False


def is_valid_id(entity_id: int) -> bool:
    """True for ids ESI could serve: positive 64-bit integers."""
    return 0 < entity_id <= MAX_ID
