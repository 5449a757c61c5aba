"""`sync-all --wait` on a SQLite file nobody runs: the work done in this process, then a clean stop.

A newcomer's whole job is then one command. When a runner (`killreport run`) already holds the
file, this process only queues and waits, as on PostgreSQL; when none does, it takes the runner
lock itself and runs a worker of every kind beside the waiting, exactly as `run` would, and drains
it once nothing is pending.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from killreport.config import Settings
from killreport.ids import KINDS
from killreport.runner_lock import RunnerLockHeld
from killreport.wiring import runner_lock
from killreport.worker import main as worker

COMMAND = "killreport sync-all --wait"


@asynccontextmanager
async def working_here(settings: Settings) -> AsyncIterator[bool]:
    """Yields True while this process works every kind on the file (it held no runner), else False."""
    if not settings.embedded:
        yield False
        return
    try:
        lock = runner_lock(settings, COMMAND)
    except RunnerLockHeld:
        yield False  # a runner does the work: this process only queues and waits
        return
    with lock:
        stop, consuming = asyncio.Event(), asyncio.Event()
        working = asyncio.create_task(worker.run(settings, KINDS, stop, consuming))
        try:
            await _started(working, consuming)
            yield True
        finally:
            stop.set()
            await asyncio.gather(working, return_exceptions=True)


async def _started(working: asyncio.Task[None], consuming: asyncio.Event) -> None:
    """Wait until the worker consumes; its failure to start is raised here."""
    waiting = asyncio.create_task(consuming.wait())
    await asyncio.wait([working, waiting], return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if working.done():
        working.result()  # raises what stopped it
        raise RuntimeError("the in-process worker stopped before it consumed anything")
