"""A scheduler process's life: connect (waiting for services), stand by, lead while the lock is ours, stop.

While it leads, four loops run side by side: the lease heartbeat (whose failure ends the rest),
the tick (alliance list, then each kind's share of due refreshes), the affiliation sweep and the
daily snapshots.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import structlog

from killreport.config import Settings
from killreport.esi.errors import EsiError
from killreport.metrics.expose import Exposition, exposing
from killreport.scheduler.alliances import refresh_list_if_due
from killreport.scheduler.context import Scheduling
from killreport.scheduler.lock import Leadership, acquire
from killreport.scheduler.refresh import Releaser
from killreport.scheduler.snapshots import DailySnapshots
from killreport.scheduler.sweep import sweep_if_due
from killreport.worker.connected import Connected, shared_or_connected
from killreport.worker.runner import Backoff

log = structlog.get_logger("killreport.scheduler")


async def run(settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None = None,
              exposed: Exposition | None = None, shared: Connected | None = None) -> None:
    """Connect (waiting for PostgreSQL and RabbitMQ; then `ready` is set), stand by or lead until `stop`.

    With METRICS_PORT set it serves its metrics, unless `exposed` (`run`'s shared one) is given;
    `shared` (`run`'s) is used instead of opening the services.
    """
    async with exposing(settings, exposed) as ex, \
            shared_or_connected(shared, settings, pool_size=4,
                                observe=ex.metrics.observe_request if ex else None) as services:
        ctx = Scheduling(services.store, services.broker, services.esi.client, settings)
        if ex is not None:
            ex.attach(services.store, services.broker, services.esi.budget, freshness=True)
        if ready is not None:
            ready.set()
        while not stop.is_set():
            held = await acquire(settings, stop)
            if held is None:
                break
            try:
                await _lead(ctx, held, stop)
            finally:
                await held.release()
    log.info("scheduler stopped")


async def _lead(ctx: Scheduling, held: Leadership, stop: asyncio.Event) -> None:
    """Act until `stop`, or until the lease cannot be renewed (then another scheduler may lead)."""
    keeping = asyncio.create_task(held.keep())
    work = [asyncio.create_task(_every(ctx, "tick", _tick_once(ctx))),
            asyncio.create_task(_every(ctx, "sweep", lambda _elapsed: sweep_if_due(ctx))),
            asyncio.create_task(_every(ctx, "snapshots", DailySnapshots(ctx.store)))]
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([keeping, stopping, *work], return_when=asyncio.FIRST_COMPLETED)
    for task in (keeping, stopping, *work):
        task.cancel()
    await asyncio.gather(keeping, stopping, *work, return_exceptions=True)
    if not stop.is_set():
        log.warning("scheduler standing by", holder=held.holder)


def _tick_once(ctx: Scheduling) -> Callable[[float], Awaitable[object]]:
    """One tick: the alliance list if due (with its own backoff on ESI errors), then due refreshes."""
    backoff, not_before, releaser = Backoff(first_s=1.0, max_s=300.0), [0.0], Releaser(ctx)
    loop = asyncio.get_running_loop()

    async def tick(elapsed_s: float) -> None:
        """The list, unless backing off after an ESI error; then the due refreshes."""
        if loop.time() >= not_before[0]:
            try:
                await refresh_list_if_due(ctx)
                backoff.reset()
            except EsiError as exc:
                # Never sooner than an Expires the failed answer came with.
                given = exc.expires_at
                until_expires = 0.0 if given is None else (given - dt.datetime.now(dt.UTC)).total_seconds()
                delay = max(backoff.next_delay(), until_expires)
                not_before[0] = loop.time() + delay
                log.warning("alliance list not fetched", error=str(exc), retry_in_s=delay)
        await releaser.tick(elapsed_s)

    return tick


async def _every(ctx: Scheduling, name: str, step: Callable[[float], Awaitable[object]]) -> None:
    """`step(seconds since the last one)` every SCHEDULER_TICK_S; a failing step is logged, never fatal."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(ctx.settings.scheduler_tick_s)
        now = loop.time()
        try:
            await step(now - last)
        except Exception as exc:
            # The database or the broker blinked: the next tick tries again; cancellation passes.
            log.warning(f"scheduler {name} failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0])
        last = now
