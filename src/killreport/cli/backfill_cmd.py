"""`killreport killmails backfill --from DATE [--to DATE] [--redo]`: whole UTC days of kills.

Each day's id → hash list comes from R2Z2's day file, bodies from its raw day file and otherwise from
ESI's killmail route (through the shared budget); the life is in killreport.backfill. On a SQLite file
only the holder of its runner lock talks to ESI: this command takes the lock when nobody holds it;
when a `killreport run` does, it stores what the raw files give and leaves the kills that need ESI
for a run of this command once the runner stops (the day stays unfinished, so nothing is lost).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Final

from cyclopts import Parameter
from rich.console import Console
from rich.table import Column, Table

from killreport.agent import user_agent
from killreport.backfill import plan
from killreport.backfill.plan import DayReport
from killreport.backfill.run import BATCH, Backfill, Options
from killreport.backfill.shared_pace import StoredPace
from killreport.cli.errors import FAILURE, UsageError
from killreport.config import Settings
from killreport.queue.broker import JobQueue
from killreport.r2z2.client import R2z2Client
from killreport.r2z2.errors import R2z2Error
from killreport.r2z2.paced import PacedFeed
from killreport.r2z2.transport import aiohttp_transport
from killreport.runner_lock import RunnerLockHeld
from killreport.services import database
from killreport.store.interface import Store
from killreport.wiring import Esi, broker, esi_client, load_settings, runner_lock
from killreport.worker.stats import flush_once

COMMAND: Final = "killreport killmails backfill"
_ERR: Final = Console(stderr=True)
_DONE: Final = frozenset({"complete", "skipped"})
_MAX_BATCH: Final = 10_000


async def backfill(*, from_: Annotated[str, Parameter(name="--from")], to: str | None = None,
                   redo: bool = False, batch: int = BATCH) -> int:
    """Store every kill of the UTC days from --from to --to (YYYY-MM-DD; default: --from alone).

    A day's files appear once the day is over. A second run stores only what is missing; a day
    finished earlier is skipped unless --redo (a day whose count differs from totals.json, say).
    --batch: kills saved per transaction. Exit 1 when a day is left incomplete, differs from
    totals.json, or is not over yet.
    """
    try:
        first = plan.parse_date(from_)
        day_list = plan.days(first, plan.parse_date(to) if to is not None else first)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not 1 <= batch <= _MAX_BATCH:
        raise UsageError(f"--batch must be 1..{_MAX_BATCH}")
    settings = load_settings()
    started = time.monotonic()
    async with database(settings, wait=False) as store, broker(settings) as mq:
        try:
            reports = await _run(settings, store, mq, day_list, redo, Options(batch=batch), started)
        except R2z2Error as exc:
            _ERR.print(f"killreport: error: R2Z2 cannot be used: {exc}", highlight=False, soft_wrap=True)
            return FAILURE
    _summary(reports, time.monotonic() - started)
    return 0 if all(r.status in _DONE for r in reports) else FAILURE


async def _run(settings: Settings, store: Store, mq: JobQueue, day_list: Sequence[str], redo: bool,
               options: Options, started: float) -> list[DayReport]:
    async with _esi(settings, store) as esi, aiohttp_transport() as transport:
        client = R2z2Client(transport, base_url=settings.r2z2_url,
                            user_agent=user_agent(settings.esi_contact))
        feed = PacedFeed(client, StoredPace(store, settings.r2z2_max_rps), sleep=asyncio.sleep,
                         on_pause=_paused)
        work = Backfill(store, feed, None if esi is None else esi.client, mq, progress=_show(started),
                        options=options)
        return await work.run(day_list, redo=redo)


@asynccontextmanager
async def _esi(settings: Settings, store: Store) -> AsyncIterator[Esi | None]:
    """The ESI client this process may use: None on a SQLite file another process runs on."""
    if not settings.embedded:
        async with _counted(settings, store) as esi:
            yield esi
        return
    try:
        lock = runner_lock(settings, COMMAND)
    except RunnerLockHeld as exc:
        _ERR.print(f"`{exc.holder.command}` holds the file and only it talks to ESI: kills the raw day "
                   "files lack are left for a back-fill run once it stops", highlight=False, soft_wrap=True)
        yield None
        return
    with lock:
        async with _counted(settings, store) as esi:
            yield esi


@asynccontextmanager
async def _counted(settings: Settings, store: Store) -> AsyncIterator[Esi]:
    """An ESI client whose requests are added to the request log at the end."""
    async with esi_client(settings) as esi:
        try:
            yield esi
        finally:
            await flush_once(store, esi.counter)


def _paused(exc: R2z2Error, seconds: float) -> None:
    _ERR.print(f"R2Z2 {exc.status or 'no answer'} ({exc.message}): every process pauses {seconds:.0f} s",
               highlight=False, soft_wrap=True)


def _show(started: float) -> Callable[[DayReport], None]:
    """The progress printer: one line per batch saved and per day ended."""
    def show(r: DayReport) -> None:
        failed = f", {len(r.failed)} failed" if r.failed else ""
        _ERR.print(f"[{time.monotonic() - started:7.1f}s] {r.day} {r.status}: {r.stored}/{r.listed} stored "
                   f"(held {r.held}, raw {r.from_raw}, esi {r.from_esi}{failed})", highlight=False)
    return show


def _summary(reports: Sequence[DayReport], seconds: float) -> None:
    """One row a day (totals: totals.json's count; raw, ESI: stored from each by this run), then every
    reason a kill was not stored or a day differs."""
    numbers = [Column(name, justify="right", no_wrap=True)
               for name in ("listed", "totals", "stored", "raw", "ESI", "failed")]
    table = Table(Column("day", no_wrap=True), Column("status", no_wrap=True), *numbers,
                  title=f"back-fill finished in {seconds:.1f} s")
    for r in reports:
        table.add_row(r.day, r.status, str(r.listed), "?" if r.expected is None else str(r.expected),
                      str(r.stored), str(r.from_raw), str(r.from_esi), str(len(r.failed)))
    Console().print(table)
    for r in reports:
        for line in _notes(r):
            _ERR.print(f"{r.day}: {line}", highlight=False, soft_wrap=True)


def _notes(r: DayReport) -> list[str]:
    """What a human should know of a day beyond its numbers."""
    notes = [f"killmail {k} not stored: {why}" for k, why in sorted(r.failed.items())]
    notes += [f"killmail {k}: raw body refused ({why}); asked of ESI"
              for k, why in sorted(r.raw_rejected.items())]
    if r.status == "not over":
        notes.append("not over yet: R2Z2 publishes a day's files once the UTC day has ended")
    if r.status == "no list":
        notes.append("R2Z2 has no day file for it (404): not published yet, or no kill that day; "
                     "run again later")
    if r.status == "skipped incomplete":
        notes.append("finished by an earlier run that did not store every listed kill or disagreed with "
                     "totals.json; --redo does it again")
    if r.waiting:
        notes.append(f"{r.waiting} kills need ESI; run the back-fill again once the runner stops")
    difference = plan.difference(r.listed, r.expected)
    if difference is not None and r.status not in ("not over", "no list"):
        notes.append(f"{difference}; --redo asks the day again")
    return notes
