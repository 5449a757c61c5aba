"""Fetch what is stale of one entity: the pure choice of requests, then the ESI calls."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from killreport.esi.types import Fetched
from killreport.ids import Kind
from killreport.store.entities import CacheFacts, Stored


class EsiSource(Protocol):
    """The part of the ESI client the sync layer uses."""

    async def alliance_ids(self) -> Fetched[Any]: ...
    async def alliance(self, alliance_id: int) -> Fetched[Any]: ...
    async def alliance_corporations(self, alliance_id: int) -> Fetched[Any]: ...
    async def corporation(self, corporation_id: int) -> Fetched[Any]: ...
    async def character(self, character_id: int) -> Fetched[Any]: ...


@dataclass(frozen=True, slots=True)
class Fresh:
    """What one job fetched: the entity body and, for alliances, the member list."""

    body: Mapping[str, Any] | None = None
    facts: CacheFacts | None = None
    members: list[int] | None = None
    members_facts: CacheFacts | None = None

    @property
    def requested(self) -> bool:
        """Whether anything was fetched at all."""
        return self.body is not None or self.members is not None


def as_body(data: Any) -> Any:
    """Plain JSON-shaped data from a validated model (or data that already is)."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="python", exclude_none=True)
    if isinstance(data, list):
        return [as_body(item) for item in data]
    return data


def facts_of(fetched: Fetched[Any], now: dt.datetime) -> CacheFacts:
    """The cache facts of a response."""
    return CacheFacts(
        fetched_at=now, expires_at=fetched.expires_at, etag=fetched.etag, last_modified=fetched.last_modified
    )


async def fetch_stale(esi: EsiSource, kind: Kind, entity_id: int, stored: Stored) -> Fresh:
    """Request exactly the resources of the entity whose Expires has passed."""
    now = dt.datetime.now(dt.UTC)
    if kind == "alliance":
        return await _alliance(esi, entity_id, stored, now)
    if stored.fresh:
        return Fresh()
    getter = esi.corporation if kind == "corporation" else esi.character
    got = await getter(entity_id)
    return Fresh(body=as_body(got.data), facts=facts_of(got, now))


async def _alliance(esi: EsiSource, alliance_id: int, stored: Stored, now: dt.datetime) -> Fresh:
    # Both resources are independent, so they are requested together to halve the job's latency.
    detail = None if stored.fresh else esi.alliance(alliance_id)
    members = (
        None if stored.members_fresh and stored.row is not None else (esi.alliance_corporations(alliance_id))
    )
    got = await asyncio.gather(*(c for c in (detail, members) if c is not None))
    it = iter(got)
    got_detail = next(it) if detail is not None else None
    got_members = next(it) if members is not None else None
    return Fresh(
        body=None if got_detail is None else as_body(got_detail.data),
        facts=None if got_detail is None else facts_of(got_detail, now),
        members=None if got_members is None else list(as_body(got_members.data)),
        members_facts=None if got_members is None else facts_of(got_members, now),
    )
