"""The back-fill's edge: runs plan.py's days against the paced feed, ESI's killmail route and the store.

Kills are saved a batch per transaction (`store.killmails.save`, source "history" or "esi", no zkb),
and the characters, corporations and alliances a batch adds to the pending set are published once it
commits. A day's progress is written (`backfill_day`) when it starts and when it ends, so a run killed
at any point loses at most the batch in flight; the next run stores only what is missing. ESI is asked
through the shared budget (its `killmail` token bucket is never overspent); without an ESI client (a
runner holds the SQLite file, and only it may talk to ESI) the kills needing ESI are counted, not asked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from killreport.backfill.plan import DayReport, batches, difference, is_over, plan_day, should_run, status_of
from killreport.domain.killmail import Kill, Killmail, Source
from killreport.esi.client import EsiClient
from killreport.esi.errors import MalformedResponse, PermanentError, TransientError
from killreport.queue.broker import Publisher
from killreport.r2z2.paced import PacedFeed
from killreport.r2z2.raw import RawDay
from killreport.store.interface import Store
from killreport.store.killmails import BackfillDay
from killreport.sync.enqueue import publish_unpublished

log = structlog.get_logger("killreport.backfill")
_HELD_CHUNK = 1000
BATCH = 500  # kills per transaction: a SIGKILL loses at most this much work, and each commit is cheap


@dataclass(frozen=True, slots=True)
class Options:
    """How the back-fill works: kills per transaction, ESI requests in flight, tries of a failing one."""

    batch: int = BATCH
    esi_parallel: int = 8
    esi_tries: int = 3
    esi_retry_s: float = 2.0
    # Also a day that is not over, when the feed has its list (the gap filler's: the real feed lists
    # a day once it is over, so this changes nothing there; a feed serving today's list is used).
    open_days: bool = False


class Backfill:
    """Back-fills days into the store; `progress` hears of every batch and of every day's end."""

    def __init__(self, store: Store, feed: PacedFeed, esi: EsiClient | None, queue: Publisher, *,
                 progress: Callable[[DayReport], None], options: Options | None = None,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._store, self._feed, self._esi, self._queue = store, feed, esi, queue
        self._progress, self._options, self._now = progress, options or Options(), now

    async def run(self, day_list: Sequence[str], *, redo: bool = False) -> list[DayReport]:
        """Every day of `day_list` in turn; each one's report (R2z2Error, EsiError when a source fails)."""
        finished = await self._finished_days()
        totals: dict[str, int] | None = None
        reports = []
        for day in day_list:
            report = DayReport(day)
            if not self._options.open_days and not is_over(day, self._now()):
                report.status = "not over"
            elif not should_run(day in finished, redo):
                _earlier(report, finished[day])
            else:
                totals = totals if totals is not None else await self._feed.totals()
                report.expected = totals.get(day)
                await self._day(report)
            self._progress(report)
            reports.append(report)
        return reports

    async def _finished_days(self) -> dict[str, BackfillDay]:
        async with self._store.connect() as conn:
            return {row.day: row for row in await self._store.killmails.backfill_days(conn)
                    if row.finished_at is not None}

    async def _day(self, report: DayReport) -> None:
        found = await self._feed.day(report.day)
        if found is None and report.expected != 0:  # no list (yet): nothing proves the day empty
            report.status = "no list"
            return
        listed = found or {}
        report.listed = len(listed)
        async with self._store.begin() as conn:
            await self._store.killmails.backfill_day(conn, report.day, listed=len(listed),
                                                     expected=report.expected)
        held = await self._held(list(listed))
        raw = await self._feed.raw_day(report.day) if len(held) < len(listed) else None
        plan = plan_day(report.day, listed, held, set() if raw is None else set(raw.spans))
        report.held = plan.held
        asked = list(plan.from_esi)
        for chunk in batches(plan.from_raw, self._options.batch):
            asked.extend(await self._from_raw(report, raw, chunk))
        await self._from_esi(report, asked)
        report.status = status_of(report)
        async with self._store.begin() as conn:
            await self._store.killmails.backfill_day(conn, report.day, finished=report.waiting == 0)
        if difference(report.listed, report.expected) is not None:
            log.warning("back-fill day differs from totals.json", day=report.day, listed=report.listed,
                        expected=report.expected)

    async def _held(self, ids: list[int]) -> set[int]:
        held: set[int] = set()
        async with self._store.connect() as conn:
            for chunk in batches(ids, _HELD_CHUNK):
                held |= await self._store.killmails.held(conn, chunk)
        return held

    async def _from_raw(self, report: DayReport, raw: RawDay | None,
                        chunk: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
        """Save the chunk's kills the raw file gives; returns those whose raw body failed (for ESI)."""
        assert raw is not None  # plan_day puts nothing here without a raw file
        kills, refused = [], []
        for killmail_id, killmail_hash in chunk:
            body = raw.killmail(killmail_id)
            if isinstance(body, str):
                report.raw_rejected[killmail_id] = body
                log.warning("raw killmail refused; asking ESI", killmail_id=killmail_id, reason=body)
                refused.append((killmail_id, killmail_hash))
            else:
                kills.append(_kill(killmail_id, killmail_hash, body, "history"))
        await self._save(kills)
        report.from_raw += len(kills)
        self._progress(report)
        return refused

    async def _from_esi(self, report: DayReport, asked: list[tuple[int, str]]) -> None:
        if self._esi is None:
            report.waiting = len(asked)
            return
        gate = asyncio.Semaphore(self._options.esi_parallel)
        for chunk in batches(asked, self._options.batch):
            got = await asyncio.gather(*(self._one(gate, report, *pair) for pair in chunk),
                                       return_exceptions=True)
            # What ESI answered is saved even when a sibling failed for good: asked again, it would
            # be asked before the Expires it came with.
            kills = [kill for kill in got if isinstance(kill, Kill)]
            await self._save(kills)
            report.from_esi += len(kills)
            self._progress(report)
            for failure in got:
                if isinstance(failure, BaseException):
                    raise failure

    async def _one(self, gate: asyncio.Semaphore, report: DayReport, killmail_id: int,
                   killmail_hash: str) -> Kill | None:
        """One killmail from ESI; a permanent failure (422, a body failing the schema) is reported."""
        assert self._esi is not None
        async with gate:
            attempt = 1
            while True:
                try:
                    fetched = await self._esi.killmail(killmail_id, killmail_hash)
                except PermanentError as exc:
                    return _failed(report, killmail_id, str(exc))
                except TransientError as exc:
                    if attempt < self._options.esi_tries:
                        await asyncio.sleep(self._options.esi_retry_s * attempt)
                        attempt += 1
                        continue
                    if isinstance(exc, MalformedResponse):  # a body failing the schema, every time
                        return _failed(report, killmail_id, str(exc))
                    raise
                if fetched.data.killmail_id != killmail_id:
                    return _failed(report, killmail_id, f"ESI answered killmail {fetched.data.killmail_id}")
                return _kill(killmail_id, killmail_hash, fetched.data, "esi")

    async def _save(self, kills: list[Kill]) -> None:
        """One transaction; then what it added to the pending set is published."""
        if not kills:
            return
        async with self._store.begin() as conn:
            added = await self._store.killmails.save(conn, kills)
        for kind, ids in added.items():
            if ids:
                await publish_unpublished(self._store, self._queue, kind, ids)


def _earlier(report: DayReport, row: BackfillDay) -> None:
    """A day an earlier run finished: what it found, and whether that was complete."""
    report.listed, report.held, report.expected = row.listed, row.stored, row.expected
    report.status = "skipped" if row.complete else "skipped incomplete"


def _kill(killmail_id: int, killmail_hash: str, body: Killmail, source: Source) -> Kill:
    return Kill(killmail_id=killmail_id, hash=killmail_hash, esi=body, zkb=None, source=source)


def _failed(report: DayReport, killmail_id: int, reason: str) -> Kill | None:
    """No kill: the reason is reported for the day, and logged."""
    report.failed[killmail_id] = reason
    log.warning("killmail not stored", killmail_id=killmail_id, reason=reason)
    return None
