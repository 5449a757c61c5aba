"""A worker process's life: connect (waiting for services), consume until told to stop, then drain."""

from __future__ import annotations

import asyncio

import structlog

from killreport.config import Settings
from killreport.ids import Kind
from killreport.metrics.expose import Exposition, exposing
from killreport.queue.broker import JobQueue
from killreport.store.interface import Store
from killreport.sync.enqueue import republish_stale
from killreport.sync.process import JobProcessor
from killreport.worker.connected import Connected, shared_or_connected
from killreport.worker.runner import consume

log = structlog.get_logger("killreport.worker")


async def run(settings: Settings, kinds: tuple[Kind, ...], stop: asyncio.Event,
              consuming: asyncio.Event | None = None, exposed: Exposition | None = None,
              shared: Connected | None = None) -> None:
    """Connect (waiting for services), then consume jobs of `kinds` until `stop`.

    With METRICS_PORT set it serves its metrics, unless `exposed` (`run`'s shared one) is given;
    `shared` (`run`'s) is used instead of opening the services.
    """
    async with exposing(settings, exposed) as ex, \
            shared_or_connected(shared, settings, pool_size=max(5, settings.job_concurrency),
                                observe=ex.metrics.observe_request if ex else None) as services:
        store, mq, esi = services.store, services.broker, services.esi
        processor = JobProcessor(store, mq, esi.client, max_attempts=settings.max_attempts,
                                 claim_ttl_s=settings.claim_ttl_s, observe=ex.metrics.jobs if ex else None,
                                 history=settings.history)
        if ex is not None:
            ex.attach(store, mq, esi.budget)
        janitor = asyncio.create_task(_janitor(store, mq, settings))
        try:
            if consuming is not None:
                consuming.set()
            await consume(mq, processor.handle, kinds, settings, stop)
        finally:
            janitor.cancel()
            await asyncio.gather(janitor, return_exceptions=True)
    log.info("worker stopped")


async def _janitor(store: Store, mq: JobQueue, settings: Settings) -> None:
    """Re-publish pending jobs whose publisher died before the broker confirmed them."""
    while True:
        await asyncio.sleep(settings.janitor_interval_s)
        try:
            count = await republish_stale(store, mq, settings.janitor_age_s)
            if count:
                log.warning("re-published jobs whose publisher died", count=count)
        except Exception as exc:
            log.warning("janitor failed", error=str(exc))
