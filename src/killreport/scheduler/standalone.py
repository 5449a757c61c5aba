"""`killreport run`: the whole system in one process, for those who want one command, not a fleet.

It migrates, then runs a scheduler (which leads unless another one does), a worker for every kind
and, unless KILLMAIL_FEED is false, the kill feed's follower (which follows unless another one does)
side by side until told to stop; the worker then drains as `killreport worker` does, the follower
finishes its write. The parts share one set of services (worker/connected.py): one engine, one
broker, one ESI client on one budget.
"""

from __future__ import annotations

import asyncio

from killreport.config import Settings
from killreport.ids import KINDS
from killreport.killfeed import main as killfeed
from killreport.metrics.expose import Exposition, exposing
from killreport.scheduler import main as scheduler
from killreport.services import database
from killreport.store import migrate
from killreport.worker import main as worker
from killreport.worker.connected import Connected, connected


async def run_all(settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    """Migrate, then schedule and work every kind until `stop`; if either part fails, stop the other.

    `ready` is set once both parts are connected (before that, nothing is held).
    """
    settings.require_contact()  # before anything starts, so a missing contact is one line, exit 1
    async with database(settings, wait=True, need_schema=False, max_delay_s=settings.reconnect_max_delay_s):
        pass
    await asyncio.to_thread(migrate.upgrade, settings.database_url)
    # One metrics server and one set of services for every part; the pool has room for them all.
    async with exposing(settings) as exposed, \
            connected(settings, pool_size=max(5, settings.job_concurrency) + 6,
                      observe=exposed.metrics.observe_request if exposed else None) as shared:
        await _run_parts(settings, stop, ready, exposed, shared)


async def _run_parts(settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None,
                     exposed: Exposition | None, shared: Connected) -> None:
    """The scheduler, a worker of every kind and the follower side by side; if one fails, stop the rest."""
    scheduling, consuming, following = asyncio.Event(), asyncio.Event(), asyncio.Event()
    parts = [asyncio.create_task(scheduler.run(settings, stop, scheduling, exposed, shared)),
             asyncio.create_task(worker.run(settings, KINDS, stop, consuming, exposed, shared))]
    if settings.killmail_feed:
        parts.append(asyncio.create_task(killfeed.run(settings, stop, store=shared.store, queue=shared.broker,
                                                      esi=shared.esi.client, ready=following)))
    else:
        following.set()
    both = asyncio.create_task(_all((scheduling, consuming, following), ready))
    try:
        await asyncio.wait(parts, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        both.cancel()
        stop.set()  # one part failed (or this was cancelled): the others stop cleanly too
        done = await asyncio.gather(*parts, return_exceptions=True)
    failures = [r for r in done if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)]
    if failures:
        raise failures[0]


async def _all(started: tuple[asyncio.Event, ...], then: asyncio.Event | None) -> None:
    """Set `then` once every part has started."""
    for part in started:
        await part.wait()
    if then is not None:
        then.set()
