"""On a SQLite file only its runner talks to ESI: a command that needs the alliance list asks the runner.

Why: the embedded budget then has one process to keep (the one holding the runner lock), so its
rules can run in that process's memory. Every ESI request on a file comes from the runner lock's
holder: `run`, `worker`, `scheduler`, or `sync-all --wait` working alone. `sync-alliances` and
`sync-all` need the alliance list; on a file no runner holds they take the runner lock for as long
as they fetch it (cli/sync_cmds.py), and on a file a runner holds they ask it here:

- the command reads the stored list and, while it is fresh, asks nothing;
- otherwise it marks an ask in the file (store/sqlite/asks.py), and every runner, which answers
  asks beside its work (`serve`, started by worker/connected.py), fetches the list through its own
  budget, stores it and marks the ask answered (or failed); the command then queues the stored list
  itself (plain inserts);
- the command waits `take_within_s` for the runner to take the ask up, then as long as the runner
  holds the file (a list fetch waits out ESI's downtime and pauses like any request), and says in
  one line why it stopped: no runner took the ask up (one older than this), the runner stopped, or
  the runner's fetch failed (its log says why).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Final

import structlog

from killreport.runner_lock import holder
from killreport.store.interface import Store
from killreport.store.sqlite import asks
from killreport.sync.orchestrate import AllianceList, alliance_ids, fresh_alliance_ids

log = structlog.get_logger("killreport.sync")

TAKE_WITHIN_S: Final = 30.0
_HOLDER_EVERY_S: Final = 1.0  # how often a waiting command asks the kernel whether the runner lives


class RunnerSilent(RuntimeError):
    """The file's runner did not answer an ask; the message is one line for a human."""


async def serve(store: Store, esi: AllianceList, poll_s: float = 0.5) -> None:
    """Forever (until cancelled): answer every ask for the alliance list, through this runner's budget."""
    while True:
        try:
            await answer_once(store, esi)
        except Exception as exc:  # the database blinked: look again after the pause, never give up
            log.warning("answering asks failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0])
        await asyncio.sleep(poll_s)


async def answer_once(store: Store, esi: AllianceList) -> bool:
    """Answer the latest ask if one is open (True if it did)."""
    marks = await asks.marks(store.engine)
    asked = marks[asks.ASKED]
    if asked <= max(marks[asks.ANSWERED], marks[asks.FAILED]):
        return False
    await asks.mark(store.engine, asks.TAKEN, asked)
    try:
        await alliance_ids(esi, store)
    except Exception as exc:
        log.warning("the alliance list asked for could not be fetched",
                    error=f"{type(exc).__name__}: {exc}".splitlines()[0])
        await asks.mark(store.engine, asks.FAILED, asked)
    else:
        await asks.mark(store.engine, asks.ANSWERED, asked)
    return True


async def from_runner(store: Store, db_path: Path, *, take_within_s: float = TAKE_WITHIN_S,
                      poll_s: float = 0.2) -> list[int]:
    """Every active alliance: the stored list while it is fresh, else fetched by the file's runner."""
    cached = await fresh_alliance_ids(store)
    if cached is not None:
        return cached
    asked = time.time()
    await asks.mark(store.engine, asks.ASKED, asked)
    started = checked = time.monotonic()
    while True:
        marks = await asks.marks(store.engine)
        if marks[asks.ANSWERED] >= asked:
            async with store.connect() as conn:
                stored = await store.schedule.alliance_list(conn, 0.0)
            if stored is not None:
                return stored.ids
        if marks[asks.FAILED] >= asked:
            raise RunnerSilent("the runner could not fetch the alliance list from ESI (its log says why)")
        now = time.monotonic()
        if marks[asks.TAKEN] < asked and now - started > take_within_s:
            raise RunnerSilent(f"the runner holding {db_path} did not take up the ask for the alliance list "
                               f"within {take_within_s:g} s; is it a killreport older than this one?")
        if now - checked >= _HOLDER_EVERY_S:
            checked = now
            if holder(db_path) is None:
                raise RunnerSilent(f"the runner of {db_path} stopped before it fetched the alliance list; "
                                   "run the command again")
        await asyncio.sleep(poll_s)
