"""Ask ESI for what a job needs, and hand each answer over the moment it arrives.

An alliance job asks for two resources. Each answer is saved as soon as it arrives, whatever
happens to the other: a retry must find every answer already received stored with its Expires,
or it would ask again too early (CCP may treat that as circumventing the cache). An answer that
cannot be used still gave an Expires: that much is kept too (`defer`). Only then does a failure
propagate.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from killreport.domain import history
from killreport.domain.cache import Fetched, NotModified
from killreport.domain.models import (
    Alliance,
    AllianceHistoryRecord,
    Character,
    Corporation,
    CorporationHistoryRecord,
    Entity,
)
from killreport.esi.errors import EsiError, MalformedResponse
from killreport.ids import Kind
from killreport.sync.plan import Request

T = TypeVar("T")
# What one request brought back: a 200's validated body, or a 304.
Answer = Fetched[T] | NotModified
# Stores one answer with the moment it arrived; called before anything else happens to the job.
Save = Callable[[Answer[T], dt.datetime], Awaitable[None]]
# Keeps the Expires of an answer that could not be used: nothing may ask for the resource before it.
Defer = Callable[[dt.datetime], Awaitable[None]]


class EsiSource(Protocol):
    """The part of the ESI client the sync layer uses."""

    async def alliance_ids(self) -> Fetched[list[int]]:
        """GET /alliances."""
        ...

    async def alliance(self, alliance_id: int, etag: str | None = None) -> Fetched[Alliance] | NotModified:
        """GET /alliances/{id}, conditional when `etag` is given."""
        ...

    async def alliance_corporations(
            self, alliance_id: int, etag: str | None = None) -> Fetched[list[int]] | NotModified:
        """GET /alliances/{id}/corporations, conditional when `etag` is given."""
        ...

    async def corporation(
            self, corporation_id: int, etag: str | None = None) -> Fetched[Corporation] | NotModified:
        """GET /corporations/{id}, conditional when `etag` is given."""
        ...

    async def character(self, character_id: int, etag: str | None = None) -> Fetched[Character] | NotModified:
        """GET /characters/{id}, conditional when `etag` is given."""
        ...

    async def corporation_history(self, character_id: int, etag: str | None = None) -> Fetched[
            list[CorporationHistoryRecord]] | NotModified:
        """GET /characters/{id}/corporationhistory, conditional when `etag` is given."""
        ...

    async def alliance_history(self, corporation_id: int, etag: str | None = None) -> Fetched[
            list[AllianceHistoryRecord]] | NotModified:
        """GET /corporations/{id}/alliancehistory, conditional when `etag` is given."""
        ...


@dataclass(frozen=True, slots=True)
class AllianceAnswers:
    """What an alliance job received (None: not requested, the stored copy was fresh)."""

    detail: Answer[Alliance] | None = None
    members: Answer[list[int]] | None = None

    @property
    def requested(self) -> bool:
        """Whether anything was requested at all."""
        return self.detail is not None or self.members is not None


def now() -> dt.datetime:
    """When an answer arrived, as stored in fetched_at and checked_at."""
    return dt.datetime.now(dt.UTC)


async def ask_entity(esi: EsiSource, kind: Kind, entity_id: int, etag: str | None) -> Answer[Entity]:
    """GET a corporation or character (an alliance: its detail), conditional when `etag` is given."""
    if kind == "alliance":
        return await esi.alliance(entity_id, etag)
    if kind == "corporation":
        return await esi.corporation(entity_id, etag)
    return await esi.character(entity_id, etag)


HistoryRecords = list[CorporationHistoryRecord] | list[AllianceHistoryRecord]


async def ask_history(esi: EsiSource, kind: Kind, entity_id: int, etag: str | None) -> Answer[HistoryRecords]:
    """GET a character's corporation history or a corporation's alliance history, conditional when
    `etag` is given; one the interval rules cannot read is a malformed answer (with its Expires)."""
    answer: Answer[HistoryRecords] = await (esi.corporation_history(entity_id, etag) if kind == "character"
                                            else esi.alliance_history(entity_id, etag))
    if isinstance(answer, Fetched):
        try:
            history.employment(r for r in answer.data if isinstance(r, CorporationHistoryRecord))
            history.membership(r for r in answer.data if isinstance(r, AllianceHistoryRecord))
        except history.HistoryError as exc:
            raise MalformedResponse(str(exc), status=200, expires_at=answer.expires_at) from exc
    return answer


@dataclass(frozen=True, slots=True)
class Keep(Generic[T]):
    """What to do with what one request brought: store an answer, or keep an unusable one's Expires."""

    save: Save[T]
    defer: Defer


async def fetch_alliance(esi: EsiSource, alliance_id: int, wanted: Sequence[Request], *, first_sighting: bool,
                         detail_to: Keep[Alliance], members_to: Keep[list[int]]) -> AllianceAnswers:
    """Request the stale resources of an alliance, keeping each answer as it arrives; then raise any error."""
    etags = {r.resource: r.etag for r in wanted}

    async def detail() -> Answer[Alliance] | None:
        if "detail" not in etags:
            return None
        return await kept(esi.alliance(alliance_id, etags["detail"]), detail_to)

    async def members() -> Answer[list[int]] | None:
        if "members" not in etags:
            return None
        return await kept(esi.alliance_corporations(alliance_id, etags["members"]), members_to)

    if first_sighting:
        # The member list's cache facts live on the alliance row, which a first sighting has not
        # got yet: asked one after the other, a failed detail leaves no member list unstorable.
        got_detail = await detail()
        return AllianceAnswers(got_detail, await members())
    # Independent resources, asked together; every answer is saved before any error surfaces.
    both = await asyncio.gather(detail(), members(), return_exceptions=True)
    if isinstance(both[0], BaseException):
        raise _latest_expires(both[0], both[1])
    if isinstance(both[1], BaseException):
        raise both[1]
    return AllianceAnswers(both[0], both[1])


def _latest_expires(raised: BaseException, other: object) -> BaseException:
    # Both failed: the job's retry must wait for the later of their Expires, or it would find the
    # other resource still fresh and finish without it.
    if isinstance(raised, EsiError) and isinstance(other, EsiError) and other.expires_at is not None:
        raised.expires_at = max(t for t in (raised.expires_at, other.expires_at) if t is not None)
    return raised


async def kept(call: Awaitable[Answer[T]], keep: Keep[T]) -> Answer[T]:
    """`call`'s answer, saved; or its error, raised once the Expires it came with is kept."""
    try:
        answer = await call
    except EsiError as exc:
        until = exc.expires_at
        if until is not None and until > now():
            await keep.defer(until)
        raise
    await keep.save(answer, now())
    return answer
