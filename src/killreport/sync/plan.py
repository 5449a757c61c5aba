"""What each stored entity leads to: the pure rules of the cascade alliances → corporations → characters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from killreport.ids import Kind, is_special, is_valid_id


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


def requestable(kind: Kind, ids: Iterable[Any]) -> frozenset[int]:
    """The ids that name a player entity ESI can serve."""
    return frozenset(
        i
        for i in ids
        if isinstance(i, int) and not isinstance(i, bool) and is_valid_id(i) and not is_special(kind, i)
    )


def alliance_children(alliance: Mapping[str, Any], members: Iterable[int]) -> Children:
    """Member, creator and executor corporations, and the creator character."""
    corporations = [
        *members,
        alliance.get("creator_corporation_id"),
        alliance.get("executor_corporation_id"),
    ]
    return Children(
        corporations=requestable("corporation", corporations),
        characters=requestable("character", [alliance.get("creator_id")]),
    )


def corporation_children(corporation: Mapping[str, Any]) -> Children:
    """The CEO and the creator."""
    return Children(
        characters=requestable("character", [corporation.get("ceo_id"), corporation.get("creator_id")])
    )
