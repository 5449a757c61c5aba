"""EsiClient: every request reserves from the shared budget, sends the pinned headers, and is classified.

420 and 429 never reach the caller: the settle records the pause in the shared budget, and the
next reserve waits it out, so no attempt is used up.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final, TypeVar

import structlog
from pydantic import TypeAdapter

from killreport.domain import models
from killreport.domain.budget import Budget, Lease
from killreport.domain.cache import Fetched, NotModified
from killreport.domain.killmail import Killmail
from killreport.domain.observation import NO_ANSWER, Observation
from killreport.domain.routes import ALLIANCE_HISTORY, CORPORATION_HISTORY
from killreport.esi.classify import classify, etag_of, observe, parse_http_date
from killreport.esi.errors import EsiError, MalformedResponse, PermanentError, TransientError, TransportError
from killreport.esi.types import EsiRequest, EsiResponse, Transport
from killreport.esi.validate import validate
from killreport.ids import MAX_ID, Kind, is_special, is_valid_id

T = TypeVar("T")
E = TypeVar("E", bound=EsiError)
_NUMBER_SEGMENT: Final = re.compile(r"/\d+(?=/|$)")
# A killmail's hash is part of its path: the route keys every killmail's request as one template.
_KILLMAIL_HASH_SEGMENT: Final = re.compile(r"^(/killmails/\{id\}/)[^/]+")
_KILLMAIL_HASH: Final = re.compile(r"^[0-9a-f]{40}$")
AFFILIATION_PATH: Final = "/characters/affiliation"
log = structlog.get_logger("killreport.esi")
# ESI's limit on ids per POST batch (affiliation, names).
MAX_BATCH: Final = 1000


# Until when (time.monotonic()) requests made in this context may still be sent: see `sending_until`.
_SEND_BY: ContextVar[float | None] = ContextVar("killreport_esi_send_by", default=None)
# How a lease that was never used is returned: no answer, and no error either.
NOT_SENT: Final = Observation(status=None, is_error=False)
_CLAIM_RAN_OUT: Final = "not sent: the job's claim ran out while it waited for the budget"


class NotSent(TransientError):
    """A request was not sent: the deadline of `sending_until` passed while it waited for the budget."""


@contextmanager
def sending_until(deadline: float) -> Iterator[None]:
    """Requests made inside (tasks started inside too) are not sent after `deadline` (monotonic).

    A job may only ask for an entity while its claim on it lasts: once the claim runs out, another
    worker may claim the entity and ask too, and the second request would come before the Expires
    the first one got. A wait on the budget (a 420 pause, a spent error window, a downtime) can
    outlast it: the wait then ends at the deadline with NotSent.
    """
    token = _SEND_BY.set(deadline)
    try:
        yield
    finally:
        _SEND_BY.reset(token)


def route_of(path: str) -> str:
    """The route template the budget keys groups by: numeric segments become `{id}`."""
    return _KILLMAIL_HASH_SEGMENT.sub(r"\1{hash}", _NUMBER_SEGMENT.sub("/{id}", path.split("?", 1)[0]))


class EsiClient:
    """Typed access to the ESI routes killreport stores."""

    def __init__(self, transport: Transport, budget: Budget, *, base_url: str, user_agent: str,
                 compatibility_date: str, timeout_s: float, max_body_bytes: int) -> None:
        self._transport = transport
        self._budget = budget
        self._base = base_url.rstrip("/")
        self._headers = {"User-Agent": user_agent, "X-Compatibility-Date": compatibility_date,
                         "Accept": "application/json"}
        self._timeout = timeout_s
        self._max_body = max_body_bytes

    async def alliance_ids(self) -> Fetched[list[int]]:
        """GET /alliances: every active alliance id."""
        return await self._fetch("/alliances", models.IdList)

    async def alliance(self, alliance_id: int,
                       etag: str | None = None) -> Fetched[models.Alliance] | NotModified:
        """GET /alliances/{alliance_id}; with `etag`, NotModified while it still matches."""
        self._refuse_special("alliance", alliance_id)
        return await self.get(f"/alliances/{alliance_id}", models.Alliance, etag)

    async def alliance_corporations(self, alliance_id: int,
                                    etag: str | None = None) -> Fetched[list[int]] | NotModified:
        """GET /alliances/{alliance_id}/corporations; with `etag`, NotModified while it still matches."""
        self._refuse_special("alliance", alliance_id)
        return await self.get(f"/alliances/{alliance_id}/corporations", models.IdList, etag)

    async def corporation(self, corporation_id: int,
                          etag: str | None = None) -> Fetched[models.Corporation] | NotModified:
        """GET /corporations/{corporation_id}; with `etag`, NotModified while it still matches."""
        self._refuse_special("corporation", corporation_id)
        return await self.get(f"/corporations/{corporation_id}", models.Corporation, etag)

    async def character(self, character_id: int,
                        etag: str | None = None) -> Fetched[models.Character] | NotModified:
        """GET /characters/{character_id}; with `etag`, NotModified while it still matches."""
        self._refuse_special("character", character_id)
        return await self.get(f"/characters/{character_id}", models.Character, etag)

    async def corporation_history(self, character_id: int, etag: str | None = None) -> Fetched[
            list[models.CorporationHistoryRecord]] | NotModified:
        """GET /characters/{character_id}/corporationhistory, newest first as ESI sends it; with `etag`,
        NotModified while it still matches. A deleted character raises Deleted, as its character does."""
        self._refuse_special("character", character_id)
        return await self.get(CORPORATION_HISTORY.format(id=character_id), models.CorporationHistory, etag)

    async def alliance_history(self, corporation_id: int, etag: str | None = None) -> Fetched[
            list[models.AllianceHistoryRecord]] | NotModified:
        """GET /corporations/{corporation_id}/alliancehistory, newest first as ESI sends it; with `etag`,
        NotModified while it still matches."""
        self._refuse_special("corporation", corporation_id)
        return await self.get(ALLIANCE_HISTORY.format(id=corporation_id), models.AllianceHistory, etag)

    async def affiliations(self, character_ids: Sequence[int]) -> Fetched[list[models.Affiliation]]:
        """POST /characters/affiliation: the corporation, alliance and faction of 1..1000 characters."""
        ids = list(character_ids)
        problem = _batch_problem(ids)
        if problem is not None:
            raise ValueError(f"affiliation batch: {problem}")
        response = await self._send("POST", AFFILIATION_PATH, body=json.dumps(ids).encode())
        return _read(response, models.Affiliations, AFFILIATION_PATH)

    async def killmail(self, killmail_id: int, killmail_hash: str) -> Fetched[Killmail]:
        """GET /killmails/{killmail_id}/{killmail_hash}/: a killmail, immutable (a long Expires; the
        `killmail` token bucket). A wrong id or hash answers 422: a PermanentError for that kill."""
        if not is_valid_id(killmail_id) or not _KILLMAIL_HASH.match(killmail_hash):
            raise PermanentError(f"{killmail_id}/{killmail_hash[:50]!r} is not a killmail id and a "
                                 "40 hex digit hash; not requested", path="/killmails")
        return await self._fetch(f"/killmails/{killmail_id}/{killmail_hash}/", Killmail)

    async def status(self) -> Fetched[models.Status]:
        """GET /status: players, server version, start time and VIP mode of the cluster."""
        return await self._fetch("/status", models.Status)

    async def get(self, path: str, model: TypeAdapter[T] | type[T],
                  etag: str | None = None) -> Fetched[T] | NotModified:
        """GET `path`; with `etag`, a 304 comes back as NotModified. Errors raise esi.errors."""
        response = await self._send("GET", path, etag=etag)
        if response.status == 304 and etag:
            return NotModified(expires_at=parse_http_date(response.headers.get("expires")))
        return _read(response, model, path)

    async def _fetch(self, path: str, model: TypeAdapter[T] | type[T]) -> Fetched[T]:
        return _read(await self._send("GET", path), model, path)

    async def _send(self, method: str, path: str, *, etag: str | None = None,
                    body: bytes | None = None) -> EsiResponse:
        """Reserve, send, settle (always), classify; loop on 420/429 without using an attempt."""
        headers = dict(self._headers)
        if etag:
            headers["If-None-Match"] = etag
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = EsiRequest(method, self._base + path, headers, body, self._timeout)
        route = route_of(path)
        while True:
            response = await self._attempt(request, route, path)
            outcome = classify(response.status, response.headers, response.body)
            if outcome.kind in ("ok", "not-modified"):
                return response
            if outcome.kind == "wait":
                continue
            assert outcome.error is not None
            outcome.error.path = path
            raise _given(outcome.error, response)

    async def _attempt(self, request: EsiRequest, route: str, path: str) -> EsiResponse:
        _refuse_when_cancelling()
        send_by = _SEND_BY.get()
        lease = await self._reserve(route, send_by, path)
        if send_by is not None and time.monotonic() > send_by:  # granted as the deadline passed
            await self._budget.settle(lease, NOT_SENT)
            raise NotSent(_CLAIM_RAN_OUT, path=path)
        try:
            response = await _outliving(self._transport(request))
        except TransportError:
            await self._budget.settle(lease, NO_ANSWER)
            raise
        except MalformedResponse as exc:  # an answer came, but too large to read
            status = exc.status if exc.status is not None else 200
            await self._budget.settle(lease, Observation(status=status, is_error=status >= 400))
            raise
        except BaseException:
            await self._budget.settle(lease, NO_ANSWER)  # cancelled mid-request: assume the worst
            raise
        await self._settle_answered(lease, response, path)
        if len(response.body) > self._max_body:
            raise _given(MalformedResponse(f"body larger than {self._max_body} bytes",
                                           status=response.status, path=path), response)
        return response

    async def _reserve(self, route: str, send_by: float | None, path: str) -> Lease:
        """The budget's lease, or NotSent once `send_by` passes while waiting for it.

        Waiting stops at the deadline, not at the next grant: a job then gives its claim back while
        it surely still holds it (sync/process.py), and a grant after a long wait (a spent error
        window, a downtime) goes to a job that can use it. The budgets give back a lease granted to
        a reserve cancelled here.
        """
        if send_by is None:
            return await self._budget.reserve(route)
        try:
            async with asyncio.timeout(max(send_by - time.monotonic(), 0.0)):
                return await self._budget.reserve(route)
        except TimeoutError:
            raise NotSent(_CLAIM_RAN_OUT, path=path) from None

    async def _settle_answered(self, lease: Lease, response: EsiResponse, path: str) -> None:
        """Settle a request that got an answer; an answer worth keeping survives a failed settle.

        A 200 or 304 carries an Expires: dropping it because the budget's database was unreachable
        would make the retry ask again before it. An unsettled lease expires on its own, as a killed
        worker's does, so the budget stays safe; only this response's report is lost.
        """
        try:
            await self._budget.settle(lease, observe(response.status, response.headers, response.body))
        except Exception as exc:
            if not (200 <= response.status < 300 or response.status == 304):
                raise
            log.warning("settle failed; the lease expires on its own", path=path,
                        error=f"{type(exc).__name__}: {str(exc)[:200]}")

    @staticmethod
    def _refuse_special(kind: Kind, entity_id: int) -> None:
        if is_special(kind, entity_id):
            raise PermanentError(f"{entity_id} is a system/NPC/faction id; not requested", path=kind)


def _given(exc: E, response: EsiResponse) -> E:
    # An answer came, with its Expires: whoever retries must not ask again before it.
    exc.expires_at = parse_http_date(response.headers.get("expires"))
    return exc


async def _outliving(call: Awaitable[T]) -> T:
    """`call`'s result, even if this task is cancelled meanwhile (a draining worker's late job).

    A request that is out has an answer on its way, with an Expires nobody may ask before: dropped,
    the job's next try would ask too early. The cancellation takes effect before the next request
    (`_refuse_when_cancelling`); a second one gives the answer up.
    """
    sending = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(sending)
    except asyncio.CancelledError:
        if sending.cancelled():
            raise
    try:
        return await sending
    except asyncio.CancelledError:
        sending.cancel()
        raise


def _refuse_when_cancelling() -> None:
    # A cancellation `_outliving` held back: this task must send nothing more.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _read(response: EsiResponse, model: TypeAdapter[T] | type[T], path: str) -> Fetched[T]:
    """A 200's validated body and cache facts; a 304 here answered a request that named no ETag."""
    if response.status == 304:
        raise _given(TransientError("304 to an unconditional request", status=304, path=path), response)
    try:
        data = validate(model, response.body, path)
    except MalformedResponse as exc:
        raise _given(exc, response) from None
    return Fetched(data=data, expires_at=parse_http_date(response.headers.get("expires")),
                   etag=etag_of(response.headers),
                   last_modified=parse_http_date(response.headers.get("last-modified")))


def _batch_problem(ids: list[int]) -> str | None:
    """Why ESI would refuse these ids as a POST batch (a 400 spends the error budget), or None."""
    if not 1 <= len(ids) <= MAX_BATCH:
        return f"{len(ids)} ids; ESI takes 1..{MAX_BATCH}"
    if len(set(ids)) != len(ids):
        return "ids are not unique"
    if any(isinstance(i, bool) or not isinstance(i, int) or not is_valid_id(i) for i in ids):
        return f"every id must be an integer in 1..{MAX_ID}"
    return None
