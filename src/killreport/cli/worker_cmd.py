"""`killreport worker KIND...`: a long-running worker process."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.cli.context import broker, esi_client, load_settings
from killreport.cli.errors import UsageError
from killreport.config import Settings
from killreport.ids import KINDS, Kind, parse_kind
from killreport.queue.broker import Broker
from killreport.services import database
from killreport.sync.enqueue import republish_stale
from killreport.sync.process import JobProcessor, SyncOptions
from killreport.worker.options import WorkerOptions
from killreport.worker.runner import consume
from killreport.worker.stats import flush_forever

log = structlog.get_logger("killreport.worker")


def _kinds(requested: list[str]) -> tuple[Kind, ...]:
    if not requested:
        raise UsageError("name at least one kind: alliance, corporation, character or all")
    chosen: list[Kind] = []
    for text in requested:
        if text == "all":
            chosen.extend(KINDS)
        elif text in KINDS:
            chosen.append(parse_kind(text))
        else:
            raise UsageError(f"unknown kind {text!r}; expected alliance, corporation, character or all")
    return tuple(k for k in KINDS if k in chosen)


async def worker(*kinds: str, concurrency: int | None = None,
                 shutdown_timeout: float | None = None) -> int:
    """Take jobs of the given kinds (alliance, corporation, character, all) until SIGTERM/SIGINT."""
    settings = load_settings()
    options = WorkerOptions(
        kinds=_kinds(list(kinds)),
        concurrency=concurrency or settings.worker_concurrency,
        shutdown_timeout_s=shutdown_timeout or settings.shutdown_timeout_s,
        max_attempts=settings.max_attempts,
        claim_ttl_s=settings.claim_ttl_s,
    )
    if options.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    consuming = asyncio.Event()
    running = asyncio.create_task(run(settings, options, stop, consuming))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([running, stopping], return_when=asyncio.FIRST_COMPLETED)
    if not consuming.is_set() and not running.done():
        # Stopped while still waiting for its services: nothing is held, so just give up waiting.
        running.cancel()
    stopping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    return 0


async def run(settings: Settings, options: WorkerOptions, stop: asyncio.Event,
              consuming: asyncio.Event | None = None) -> None:
    """Connect (waiting for services), then consume until `stop`."""
    wait_s = options.reconnect_max_delay_s
    async with database(settings, wait=True, max_delay_s=wait_s,
                        pool_size=max(5, options.concurrency)) as engine, \
            broker(settings, wait=True, max_delay_s=wait_s) as mq, \
            esi_client(settings) as esi:
        processor = JobProcessor(engine, mq, esi.client, SyncOptions(
            max_attempts=options.max_attempts, claim_ttl_s=options.claim_ttl_s))
        background = [
            asyncio.create_task(flush_forever(engine, esi.counter, options.stats_flush_s)),
            asyncio.create_task(_janitor(engine, mq, options)),
        ]
        try:
            if consuming is not None:
                consuming.set()
            await consume(mq, processor.handle, options, stop)
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
    log.info("worker stopped")


async def _janitor(engine: AsyncEngine, mq: Broker, options: WorkerOptions) -> None:
    while True:
        await asyncio.sleep(options.janitor_interval_s)
        try:
            count = await republish_stale(engine, mq, options.janitor_age_s)
            if count:
                log.warning("re-published jobs whose publisher died", count=count)
        except Exception as exc:
            log.warning("janitor failed", error=str(exc))
