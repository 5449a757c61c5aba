"""The consume loop: take jobs up to `concurrency`, and on stop: stop taking, drain, then cancel.

Deliveries still running when the drain time runs out are cancelled unacked, so the broker hands
them to another worker; a job is therefore never lost, at worst fetched again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import structlog

from killreport.config import Settings
from killreport.ids import Kind
from killreport.queue.broker import QUEUE_NAMES, Delivery, JobQueue

log = structlog.get_logger("killreport.worker")

Handler = Callable[[Delivery], Awaitable[None]]
T = TypeVar("T")


class Backoff:
    """Doubling delays after consecutive failures, reset by a success."""

    def __init__(self, first_s: float = 0.5, max_s: float = 30.0) -> None:
        self._first, self._max, self._failures = first_s, max_s, 0

    def next_delay(self) -> float:
        """Record a failure and return how long to wait."""
        self._failures += 1
        return float(min(self._max, self._first * 2 ** (self._failures - 1)))

    def reset(self) -> None:
        """Record a success."""
        self._failures = 0


async def consume(broker: JobQueue, handle: Handler, kinds: tuple[Kind, ...], settings: Settings,
                  stop: asyncio.Event) -> None:
    """Run jobs of `kinds` until `stop` is set, then shut down gracefully."""
    queues = [QUEUE_NAMES[kind] for kind in kinds]
    concurrency = settings.job_concurrency
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()
    backoff = Backoff(max_s=settings.reconnect_max_delay_s)
    # The prefetch equals the concurrency, so no delivery waits in this process unowned.
    async with broker.consume(queues, prefetch=concurrency) as deliveries:
        log.info("worker consuming", queues=queues, concurrency=concurrency)
        async for delivery in _until(deliveries, stop, slots):
            task = asyncio.create_task(_guarded(handle, delivery, backoff))
            running.add(task)
            task.add_done_callback(_finished(running, slots))
        await _drain(running, settings.shutdown_timeout_s)


def _finished(running: set[asyncio.Task[None]],
              slots: asyncio.Semaphore) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        running.discard(task)
        slots.release()

    return done


async def _until(deliveries: AsyncIterator[Delivery], stop: asyncio.Event,
                 slots: asyncio.Semaphore) -> AsyncIterator[Delivery]:
    """Deliveries, each only once a slot is free, until stop is set or the stream ends."""
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            # A free slot is taken at once: racing it against `stopping` cost a task and a wait().
            if not slots.locked():
                await slots.acquire()
            elif not await _first(slots.acquire(), stopping):
                return
            try:
                delivery = await _first(anext(deliveries), stopping)
            except StopAsyncIteration:
                slots.release()
                return
            if delivery is None:
                slots.release()
                return
            yield delivery
    finally:
        stopping.cancel()


async def _first(work: Awaitable[T], stopping: asyncio.Future[Any]) -> T | None:
    """`work`'s result, or None (with `work` cancelled) if stopping finishes first."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait([task, stopping], return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
        await task
    return None


async def _guarded(handle: Handler, delivery: Delivery, backoff: Backoff) -> None:
    try:
        await handle(delivery)
        backoff.reset()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        # Infrastructure trouble (database or broker down): wait, then give the job back.
        delay = backoff.next_delay()
        log.error("job failed; returning it", error=f"{type(exc).__name__}: {exc}", retry_in_s=delay)
        await asyncio.sleep(delay)
        with contextlib.suppress(Exception):
            await delivery.requeue()


async def _drain(running: set[asyncio.Task[None]], timeout_s: float) -> None:
    if not running:
        return
    log.info("draining", jobs=len(running), timeout_s=timeout_s)
    _, late = await asyncio.wait(set(running), timeout=timeout_s)
    for task in late:
        task.cancel()
    if late:
        log.warning("cancelled unfinished jobs; they return to the queue", jobs=len(late))
        await asyncio.wait(late)
