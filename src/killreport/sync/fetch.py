"""Fetch what is stale of one entity: the pure choice of requests, then the ESI calls."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from killreport.esi.errors import TransientError
from killreport.esi.models import Alliance, Character, Corporation, Entity
from killreport.esi.types import Fetched, NotModified
from killreport.ids import Kind
from killreport.store.entities import Stored
from killreport.store.facts import CacheFacts

T = TypeVar("T")


class EsiSource(Protocol):
    """The part of the ESI client the sync layer uses."""

    async def alliance_ids(self) -> Fetched[list[int]]: ...
    async def alliance(
        self, alliance_id: int, etag: str | None = None) -> Fetched[Alliance] | NotModified: ...
    async def alliance_corporations(
        self, alliance_id: int, etag: str | None = None) -> Fetched[list[int]] | NotModified: ...
    async def corporation(
        self, corporation_id: int, etag: str | None = None) -> Fetched[Corporation] | NotModified: ...
    async def character(
        self, character_id: int, etag: str | None = None) -> Fetched[Character] | NotModified: ...


@dataclass(frozen=True, slots=True)
class Fresh:
    """What one job fetched, one optional per resource: the entity and, for alliances, its members."""

    fetched_at: dt.datetime
    detail: Fetched[Entity] | None = None
    members: Fetched[list[int]] | None = None

    @property
    def requested(self) -> bool:
        """Whether anything was fetched at all."""
        return self.detail is not None or self.members is not None

    def facts(self, fetched: Fetched[object]) -> CacheFacts:
        """The cache facts to store with one of this job's responses."""
        return CacheFacts.of(fetched, self.fetched_at)


async def fetch_stale(esi: EsiSource, kind: Kind, entity_id: int, stored: Stored) -> Fresh:
    """Request exactly the resources of the entity whose Expires has passed."""
    now = dt.datetime.now(dt.UTC)
    if kind == "alliance":
        return await _alliance(esi, entity_id, stored, now)
    if stored.fresh:
        return Fresh(now)
    detail: Fetched[Entity] | NotModified = await (
        esi.corporation(entity_id) if kind == "corporation" else esi.character(entity_id))
    return Fresh(now, detail=_fetched(detail))


async def _alliance(esi: EsiSource, alliance_id: int, stored: Stored, now: dt.datetime) -> Fresh:
    # Both resources are independent, so they are requested together to halve the job's latency.
    detail, members = await asyncio.gather(
        _unless(stored.fresh, esi.alliance, alliance_id),
        _unless(stored.members_fresh, esi.alliance_corporations, alliance_id),
    )
    return Fresh(now, detail=detail, members=members)


async def _unless(
    fresh: bool, get: Callable[[int], Awaitable[Fetched[T] | NotModified]], entity_id: int
) -> Fetched[T] | None:
    """`get(entity_id)`, unless the stored copy is still fresh."""
    return None if fresh else _fetched(await get(entity_id))


def _fetched(got: Fetched[T] | NotModified) -> Fetched[T]:
    # No ETag is sent yet, so a 304 cannot answer these requests.
    if isinstance(got, NotModified):
        raise TransientError("304 to an unconditional request", status=304)
    return got
