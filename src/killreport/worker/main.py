"""A worker process's life: connect (waiting for services), consume until told to stop, then drain."""

from __future__ import annotations

import asyncio

import structlog

from killreport.config import Settings
from killreport.downtime import watch as watch_downtime
from killreport.ids import Kind
from killreport.metrics.expose import Exposition, exposing
from killreport.queue.broker import JobQueue
from killreport.services import database
from killreport.store.interface import Store
from killreport.sync.enqueue import republish_stale
from killreport.sync.process import JobProcessor
from killreport.wiring import broker, esi_client
from killreport.worker.runner import consume
from killreport.worker.stats import flush_forever

log = structlog.get_logger("killreport.worker")


async def run(settings: Settings, kinds: tuple[Kind, ...], stop: asyncio.Event,
              consuming: asyncio.Event | None = None, exposed: Exposition | None = None) -> None:
    """Connect (waiting for services), then consume jobs of `kinds` until `stop`.

    With METRICS_PORT set it serves its metrics, unless `exposed` (`run`'s shared one) is given.
    """
    wait_s = settings.reconnect_max_delay_s
    async with exposing(settings, exposed) as ex, \
            database(settings, wait=True, max_delay_s=wait_s,
                     pool_size=max(5, settings.job_concurrency)) as store, \
            broker(settings, wait=True, max_delay_s=wait_s) as mq, \
            esi_client(settings, ex.metrics.observe_request if ex else None) as esi:
        processor = JobProcessor(store, mq, esi.client, max_attempts=settings.max_attempts,
                                 claim_ttl_s=settings.claim_ttl_s, observe=ex.metrics.jobs if ex else None)
        if ex is not None:
            ex.attach(store, mq, esi.budget)
        background = [
            asyncio.create_task(flush_forever(store, esi.counter, settings.stats_flush_s)),
            asyncio.create_task(_janitor(store, mq, settings)),
            # Every process that sends asks /status while ESI is down: no fleet waits on a scheduler.
            asyncio.create_task(watch_downtime(esi.budget, esi.client)),
        ]
        try:
            if consuming is not None:
                consuming.set()
            await consume(mq, processor.handle, kinds, settings, stop)
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
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
