"""What each stored entity leads to: the pure rules of the cascade alliances → corporations → characters.

The rules read an entity as just fetched (a validated model) or, when it was still fresh and not
fetched again, the references the store read from its row: both are typed, and both name the
referenced ids by the pinned schema's field names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from killreport.esi.models import Alliance, Corporation, Entity
from killreport.ids import Kind, is_special, is_valid_id
from killreport.store.references import AllianceReferences, CorporationReferences, References


@dataclass(frozen=True, slots=True)
class Children:
    """Entities a stored entity references, by kind, already stripped of ids never worth a request."""

    corporations: frozenset[int] = field(default_factory=frozenset)
    characters: frozenset[int] = field(default_factory=frozenset)

    def by_kind(self) -> list[tuple[Kind, frozenset[int]]]:
        """Non-empty groups, corporations first."""
        groups: list[tuple[Kind, frozenset[int]]] = [
            ("corporation", self.corporations),
            ("character", self.characters),
        ]
        return [(kind, ids) for kind, ids in groups if ids]


def requestable(kind: Kind, ids: Iterable[int | None]) -> frozenset[int]:
    """The ids that name a player entity ESI can serve."""
    return frozenset(i for i in ids if i is not None and is_valid_id(i) and not is_special(kind, i))


def children_of(entity: Entity | References | None, members: Iterable[int] = ()) -> Children:
    """What an entity leads to (`members`: an alliance's member corporations); nothing for a character."""
    if isinstance(entity, Alliance | AllianceReferences):
        return alliance_children(entity, members)
    if isinstance(entity, Corporation | CorporationReferences):
        return corporation_children(entity)
    return Children()


def alliance_children(alliance: Alliance | AllianceReferences, members: Iterable[int]) -> Children:
    """Member, creator and executor corporations, and the creator character."""
    corporations = [*members, alliance.creator_corporation_id, alliance.executor_corporation_id]
    return Children(
        corporations=requestable("corporation", corporations),
        characters=requestable("character", [alliance.creator_id]),
    )


def corporation_children(corporation: Corporation | CorporationReferences) -> Children:
    """The CEO and the creator."""
    return Children(characters=requestable("character", [corporation.ceo_id, corporation.creator_id]))
