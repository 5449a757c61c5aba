"""What stored entities name: the ids the cascade follows, of one stored entity or of them all.

A job whose entity is still fresh does not fetch it again, yet must queue what it leads to: these
typed values are read from the stored row for that (sync/plan.py takes them or a fetched model).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from sqlalchemy import Column, TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store.tables import ENTITY_TABLES


@dataclass(frozen=True, slots=True)
class AllianceReferences:
    """The ids a stored alliance names besides its members (those are in alliance_corporations)."""

    creator_id: int
    creator_corporation_id: int
    executor_corporation_id: int | None


@dataclass(frozen=True, slots=True)
class CorporationReferences:
    """The ids a stored corporation names."""

    ceo_id: int | None
    creator_id: int | None


References: TypeAlias = AllianceReferences | CorporationReferences
# Field names are column names; a character names nothing the cascade follows.
_OF_KIND: Final[Mapping[Kind, type[References]]] = {
    "alliance": AllianceReferences,
    "corporation": CorporationReferences,
}

_REFERENCING: Final[Mapping[Kind, TextClause]] = {
    "corporation": text(
        "SELECT corporation_id AS id FROM alliance_corporations"
        " UNION SELECT creator_corporation_id FROM alliances"
        " UNION SELECT executor_corporation_id FROM alliances WHERE executor_corporation_id IS NOT NULL"),
    "character": text(
        "SELECT creator_id AS id FROM alliances"
        " UNION SELECT ceo_id FROM corporations WHERE ceo_id IS NOT NULL"
        " UNION SELECT creator_id FROM corporations WHERE creator_id IS NOT NULL"),
}


def columns(kind: Kind) -> list[Column[Any]]:
    """The columns of `kind`'s table that `from_row` reads."""
    fields = dataclasses.fields(_OF_KIND[kind]) if kind in _OF_KIND else ()
    return [ENTITY_TABLES[kind].c[f.name] for f in fields]


def from_row(kind: Kind, row: Mapping[str, Any]) -> References | None:
    """The references of a stored row holding (at least) `columns(kind)`; None for a character."""
    cls = _OF_KIND.get(kind)
    if cls is None:
        return None
    return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})


async def referenced_ids(conn: AsyncConnection, kind: Kind) -> list[int]:
    """Ids of `kind` that stored alliances and corporations name (special ids included)."""
    query = _REFERENCING.get(kind)
    if query is None:  # nothing stored names an alliance: the list of alliances comes from ESI
        return []
    return [r.id for r in await conn.execute(query)]
