"""The follower's edge: drives the pure core (follow.py) with the client, a FeedPace and a KillmailStore.

One request at a time: the feed is asked in order, and at 10 requests a second one connection keeps
up with it. Two rules pace each request, and it waits for both:

- this process's own: a request's time is taken when its answer is in, so the next one cannot reach
  the feed within the second however long the last one took on the way (the feed counts arrivals,
  and an arrival is never later than its answer);
- the shared FeedPace (every process asking R2Z2, the follower and a back-fill alike): its slot is
  taken only after the first wait, just before sending, so the slot's time and the request's arrival
  differ by the sleep's overshoot and the trip, milliseconds, not by a wait of this process's own;
  the database's rules (domain/feed_pace.py) count a window 100 ms longer than a second to absorb
  that much. The first rule alone keeps a follower asking by itself under the cap whatever its trip
  takes; the second keeps it and a back-fill under the cap together.

The store is written before the state moves on: a failed write leaves the number to be asked again,
never skipped. `stop` is looked at between steps and after every wait, never within a write: a stop
finishes the write in progress and sends nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import structlog

from killreport.domain import feed_pace as rules
from killreport.domain.kill_store import FeedPace, KillmailStore
from killreport.domain.killmail import Package, Rejected
from killreport.r2z2 import follow, pace
from killreport.r2z2.client import R2z2Client
from killreport.r2z2.errors import MalformedBody, NotFound, R2z2Error, UnexpectedStatus

T = TypeVar("T")
log = structlog.get_logger("killreport.r2z2")
_UNUSABLE = (MalformedBody, UnexpectedStatus, NotFound)  # NotFound: only sequence.json raises it


class _NotAsked(Exception):
    """Nothing came of the request: it was refused or failed (the pace is paused), or a stop came."""


class Follower:
    """Follows the feed from the store's cursor (or the head pointer on a first start) into the store."""

    def __init__(self, client: R2z2Client, store: KillmailStore, feed_pace: FeedPace, *, max_rps: int,
                 clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]],
                 policy: follow.Policy | None = None, start_at: int | None = None) -> None:
        self._client, self._store, self._pace = client, store, feed_pace
        self._max_rps, self._clock, self._sleep = max_rps, clock, sleep
        self._policy = policy or follow.Policy()
        self._start_at = start_at  # a first start's number, instead of the head pointer
        self._answered: tuple[float, ...] = ()  # this process's latest answer times
        self._erred = True  # an error may be on record from an earlier run: clear it at the first answer
        self._holes_due = float("-inf")
        self._stop: Callable[[], bool] = lambda: False
        self.state: follow.FeedState | None = None

    async def run(self, stop: Callable[[], bool]) -> None:
        """Step until `stop()` says so (checked between steps and after each wait)."""
        self._stop = stop
        while not stop():
            await self.step()

    async def step(self) -> None:
        """Do the one thing the core says to do now (now and then: ask the recorded holes again)."""
        if self.state is None:
            await self._start()
            return
        state, now = self.state, self._clock()
        if now >= self._holes_due:
            await self._ask_holes()
            return
        match follow.next_step(state, now, self._policy):
            case follow.Wait(until=until):
                await self._sleep(min(until, self._holes_due) - now)
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
        if cursor is None and self._start_at is not None:
            cursor = self._start_at
        if cursor is None:  # first start: from the newest files; older days come from the day files
            try:
                cursor = await self._request(self._client.sequence)
            except _NotAsked:
                return
            except _UNUSABLE as exc:  # nowhere to start from: try again after a pause
                await self._pause(exc, None, rules.TROUBLE_FIRST_S)
                return
            await self._store.note_head(cursor)
        log.info("r2z2 following", cursor=cursor)
        self.state = follow.starting_at(cursor)

    async def _read_head(self, state: follow.FeedState) -> None:
        try:
            pointer = await self._request(self._client.sequence)
        except _NotAsked:
            return
        except _UNUSABLE as exc:
            log.warning("r2z2 head unreadable", error=str(exc))
            self.state = follow.head_seen(state, state.head, self._clock())
            return
        await self._store.note_head(pointer)
        self.state = follow.head_seen(state, pointer, self._clock())

    async def _ask(self, state: follow.FeedState, number: int) -> None:
        got = await self._package(number)
        if got is False:
            return
        if got is None:
            self.state = follow.missed(state, number, self._clock(), self._policy)
            if follow.is_refresh(state, number) and not follow.is_refresh(self.state, number):
                log.warning("r2z2 zkb refresh given up; the stored zkb stays", number=number)
            return
        await self._keep(state, number, got)

    async def _package(self, number: int) -> Package | Rejected | Literal[False] | None:
        """File `number`: a package, a rejected one, None (404 or unusable), or False (not asked)."""
        try:
            return await self._request(lambda: self._client.package(number))
        except _NotAsked:
            return False
        except _UNUSABLE as exc:
            log.warning("r2z2 file unusable", number=number, error=str(exc))
            return None

    async def _keep(self, state: follow.FeedState, number: int, got: Package | Rejected) -> None:
        rewrote = got.sequence_updated if isinstance(got, Package) else None
        after = follow.found(state, number, rewrote)
        if follow.is_refresh(state, number) and isinstance(got, Package):
            await self._store.refresh_zkb(got.killmail_id, got.zkb, got.sequence_id)
        elif isinstance(got, Package):
            await self._store.save([got], [], after.cursor)
        else:
            log.warning("r2z2 package kept aside", number=number, reason=got.reason)
            await self._store.save([], [got], after.cursor)
        self.state = after

    async def _ask_holes(self) -> None:
        """Ask the oldest recorded holes once more; what answers is saved and the hole filled."""
        self._holes_due = self._clock() + self._policy.holes_every_s
        for number in await self._store.holes(self._policy.holes_per_round):
            got = await self._package(number)
            if got is False:
                return
            if isinstance(got, Package | Rejected):
                packages, rejected = ([got], []) if isinstance(got, Package) else ([], [got])
                await self._store.save(packages, rejected, None)
                await self._store.fill_hole(number)
                log.info("r2z2 hole filled", number=number)

    async def _request(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call` once both paces allow; a refusal or failure pauses the shared pace, and that or a
        stop raises _NotAsked."""
        now = self._clock()
        await self._wait(pace.send_at(self._answered, now, self._max_rps) - now)
        await self._wait(await self._pace.turn())
        try:
            result = await call()
        except R2z2Error as exc:
            self._answer_in()
            await self._note(exc)
            rule = pace.pause_rule(exc)
            if rule is not None:  # refused, or no answer: every process pauses
                await self._pause(exc, *rule)
                raise _NotAsked from exc
            raise  # an answer, but no usable one: pauses in a row keep growing
        self._answer_in()
        if self._erred:
            self._erred = False
            await self._pace.answered()
            await self._store.note_error(None)
        return result

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            await self._sleep(seconds)
        if self._stop():
            raise _NotAsked

    def _answer_in(self) -> None:
        self._answered = (*self._answered, self._clock())[-self._max_rps:]

    async def _pause(self, exc: R2z2Error, retry_after_s: float | None, first_s: float) -> None:
        pause_s = await self._pace.refused(retry_after_s, first_s)
        log.warning("r2z2 pause", error=str(exc), until_s=round(pause_s, 1))

    async def _note(self, exc: R2z2Error) -> None:
        self._erred = True
        await self._store.note_error(f"{type(exc).__name__}: {exc}")
