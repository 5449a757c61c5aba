"""The follower's edge: drives the pure core (follow.py, pace.py) with the client and a KillmailStore.

One request at a time: the feed is asked in order, and at 10 requests a second one connection keeps
up with it. A request's time is taken when its answer is in, so the next one cannot reach the feed
within the second however long the last one took on the way. The store is written before the state
moves on: a failed write leaves the number to be asked again, never skipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import structlog

from killreport.domain.kill_store import KillmailStore
from killreport.domain.killmail import Package, Rejected
from killreport.r2z2 import follow, pace
from killreport.r2z2.client import R2z2Client
from killreport.r2z2.errors import (
    MalformedBody,
    NotFound,
    R2z2Error,
    ServerError,
    Throttled,
    Timeout,
    UnexpectedStatus,
    Unreachable,
)

T = TypeVar("T")
log = structlog.get_logger("killreport.r2z2")
_TROUBLE = (ServerError, Unreachable, Timeout)
_UNUSABLE = (MalformedBody, UnexpectedStatus, NotFound)  # NotFound: only sequence.json raises it


class _Refused(Exception):
    """The request was refused or failed as a whole: the pace is paused, nothing else changes."""


class Follower:
    """Follows the feed from the store's cursor (or the head pointer on a first start) into the store."""

    def __init__(self, client: R2z2Client, store: KillmailStore, *, max_rps: int,
                 clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]],
                 policy: follow.Policy | None = None) -> None:
        self._client, self._store = client, store
        self._max_rps, self._clock, self._sleep = max_rps, clock, sleep
        self._policy = policy or follow.Policy()
        self._pace = pace.Pace()
        self.state: follow.FeedState | None = None

    async def run(self, stop: Callable[[], bool]) -> None:
        """Step until `stop()` says so (checked between steps)."""
        while not stop():
            await self.step()

    async def step(self) -> None:
        """Do the one thing the core says to do now."""
        if self.state is None:
            await self._start()
            return
        state, now = self.state, self._clock()
        match follow.next_step(state, now, self._policy):
            case follow.Wait(until=until):
                await self._sleep(until - now)
            case follow.DeclareHole(number=number):
                after = follow.hole_declared(state, number)
                await self._store.record_hole(number, after.cursor)
                log.warning("r2z2 hole", number=number, cursor=after.cursor)
                self.state = after
            case follow.AskHead():
                await self._read_head(state)
            case follow.Ask(number=number):
                await self._ask(state, number)

    async def _start(self) -> None:
        cursor = await self._store.load_cursor()
        if cursor is None:  # first start: from the newest files; older days come from the day files
            try:
                cursor = await self._request(self._client.sequence)
            except _Refused:
                return
            except _UNUSABLE as exc:  # nowhere to start from: try again after a pause
                self._pause(exc, None, pace.TROUBLE_FIRST_S)
                return
        self.state = follow.starting_at(cursor)

    async def _read_head(self, state: follow.FeedState) -> None:
        try:
            pointer = await self._request(self._client.sequence)
        except _Refused:
            return
        except _UNUSABLE as exc:
            log.warning("r2z2 head unreadable", error=str(exc))
            self.state = follow.head_seen(state, state.head, self._clock())
            return
        self.state = follow.head_seen(state, pointer, self._clock())

    async def _ask(self, state: follow.FeedState, number: int) -> None:
        try:
            got = await self._request(lambda: self._client.package(number))
        except _Refused:
            return
        except _UNUSABLE as exc:
            log.warning("r2z2 file unusable", number=number, error=str(exc))
            got = None
        if got is None:
            self.state = follow.missed(state, number, self._clock(), self._policy)
            if follow.is_refresh(state, number) and not follow.is_refresh(self.state, number):
                log.warning("r2z2 zkb refresh given up; the stored zkb stays", number=number)
            return
        await self._keep(state, number, got)

    async def _keep(self, state: follow.FeedState, number: int, got: Package | Rejected) -> None:
        rewrote = got.sequence_updated if isinstance(got, Package) else None
        after = follow.found(state, number, rewrote)
        if follow.is_refresh(state, number) and isinstance(got, Package):
            await self._store.refresh_zkb(got.killmail_id, got.zkb)
        elif isinstance(got, Package):
            await self._store.save([got], [], after.cursor)
        else:
            log.warning("r2z2 package kept aside", number=number, reason=got.reason)
            await self._store.save([], [got], after.cursor)
        self.state = after

    async def _request(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call` when the pace allows; a refusal or failure pauses the pace and raises _Refused."""
        now = self._clock()
        wait = self._pace.next_at(now, self._max_rps) - now
        if wait > 0:
            await self._sleep(wait)
        try:
            result = await call()
        except Throttled as exc:
            self._refused(exc, exc.retry_after_s, pace.THROTTLED_FIRST_S)
        except _TROUBLE as exc:
            self._refused(exc, None, pace.TROUBLE_FIRST_S)
        except R2z2Error:  # an answer, but no usable one: pauses in a row keep growing
            self._pace = pace.sent(self._pace, self._clock(), self._max_rps)
            raise
        self._pace = pace.answered(pace.sent(self._pace, self._clock(), self._max_rps))
        return result

    def _refused(self, exc: R2z2Error, retry_after_s: float | None, first_s: float) -> NoReturn:
        self._pause(exc, retry_after_s, first_s)
        raise _Refused from exc

    def _pause(self, exc: R2z2Error, retry_after_s: float | None, first_s: float) -> None:
        now = self._clock()
        self._pace = pace.paused(pace.sent(self._pace, now, self._max_rps), now, retry_after_s, first_s)
        log.warning("r2z2 pause", error=str(exc), until_s=round(self._pace.paused_until - now, 1))
