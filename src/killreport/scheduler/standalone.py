"""`killreport run`: the whole system in one process, for those who want one command, not a fleet.

It migrates, then runs a scheduler (which leads unless another one does) and a worker for every
kind side by side until told to stop; the worker then drains as `killreport worker` does.
"""

from __future__ import annotations

import asyncio

from killreport.config import Settings
from killreport.ids import KINDS
from killreport.scheduler import main as scheduler
from killreport.services import database
from killreport.store import migrate
from killreport.worker import main as worker


async def run_all(settings: Settings, stop: asyncio.Event) -> None:
    """Migrate, then schedule and work every kind until `stop`; if either part fails, stop the other."""
    settings.require_contact()  # before anything starts, so a missing contact is one line, exit 1
    async with database(settings, wait=True, need_schema=False, max_delay_s=settings.reconnect_max_delay_s):
        pass
    await asyncio.to_thread(migrate.upgrade, settings.database_url)
    parts = [asyncio.create_task(scheduler.run(settings, stop)),
             asyncio.create_task(worker.run(settings, KINDS, stop))]
    try:
        await asyncio.wait(parts, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        stop.set()  # one part failed (or this was cancelled): the other stops cleanly too
        done = await asyncio.gather(*parts, return_exceptions=True)
    failures = [r for r in done if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)]
    if failures:
        raise failures[0]
