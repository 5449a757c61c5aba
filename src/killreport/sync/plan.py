"""The pure rules of a job: what to request, what an answer changed, what an entity leads to.

- Requests: exactly the resources whose Expires has passed, each with the stored ETag (if any) to
  send as If-None-Match, so an unchanged resource costs a 304 and no body.
- Changes: a new answer compared column by column with the stored copy (`killreport.changes`);
  a first sighting is compared with nothing and changes nothing.
- The cascade alliances → corporations → characters reads an entity as just fetched (a validated
  model) or, when it was still fresh or answered 304, the references the store read from its row:
  both are typed, and both name the referenced ids by the pinned schema's field names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from killreport.changes import Change, diff, members_change
from killreport.domain.models import Alliance, Corporation, Entity
from killreport.ids import Kind, is_special, is_valid_id
from killreport.store.entities import Resource, Stored, due
from killreport.store.references import AllianceReferences, CorporationReferences, References
from killreport.store.rows import row_of


@dataclass(frozen=True, slots=True)
class Request:
    """One resource to request, with the stored copy's ETag to send as If-None-Match (None: none)."""

    resource: Resource
    etag: str | None = None


def requests_for(kind: Kind, stored: Stored, *, history: bool = True) -> tuple[Request, ...]:
    """The entity's resources whose Expires has passed (store.entities.due), each with its ETag; a
    wanted history only if `history` (HISTORY=false: never)."""
    etags: dict[Resource, str | None] = {"detail": stored.etag, "members": stored.members_etag,
                                         "history": stored.history_etag}
    return tuple(Request(resource, etags[resource]) for resource in due(kind, stored)
                 if history or resource != "history")


def hold_until(expires: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """How long a failed job keeps its claim: until the Expires its unusable answer came with, so
    that its retry asks again only then (None: no such Expires, or it passed)."""
    return expires if expires is not None and expires > now else None


def detail_changes(kind: Kind, entity_id: int, stored: Stored, entity: Entity) -> list[Change]:
    """The columns of a new answer that differ from the stored copy (none on a first sighting)."""
    if stored.row is None:
        return []  # most answers of a full sync: building the row only to compare it with nothing costs CPU
    return diff(kind, entity_id, stored.row, row_of(entity))


def member_changes(alliance_id: int, stored: Stored, members: Iterable[int]) -> list[Change]:
    """An alliance's new member list against the stored one (none when none was stored)."""
    return members_change(alliance_id, stored.members, members)


def deletion_changes(character_id: int, stored: Stored) -> list[Change]:
    """A stored character now answers "deleted": one change; nothing when it was never stored."""
    return [] if stored.row is None else [Change("character", character_id, "deleted", False, True)]


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
