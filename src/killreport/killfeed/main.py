"""A follower's life: stand by until this process follows the feed (one per database), follow it into
the store until told to stop or until its place is lost (then stand by again), and stop cleanly.

A stop (SIGTERM) ends the wait in progress at once; a request already sent is answered and what it
brought is written before the follower returns: nothing is sent after the stop, nothing half-written.
A database or broker failure while following is logged, waited out (backing off) and followed by a
new start from the stored cursor: what was not written is asked again, nothing is skipped. Every
start, a takeover's too, first waits out the 6 s in which a number that answered 404 to whoever
asked before may not be asked again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from sqlalchemy.exc import DBAPIError

from killreport.agent import user_agent
from killreport.backfill.shared_pace import StoredPace
from killreport.config import Settings
from killreport.killfeed.adapter import StoredKillmails
from killreport.killfeed.lease import Place, take
from killreport.queue.broker import BrokerError, Publisher
from killreport.r2z2 import Follower, Policy, R2z2Client, aiohttp_transport
from killreport.services import database
from killreport.store.interface import Store
from killreport.wiring import broker
from killreport.worker.runner import Backoff

log = structlog.get_logger("killreport.killfeed")
_FAILURES = (DBAPIError, OSError, TimeoutError, BrokerError)


async def follow_alone(settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None = None,
                       start_at: int | None = None) -> None:
    """`killreport killmails follow`: its own database and broker (waiting for them), then `run`."""
    wait_s = settings.reconnect_max_delay_s
    async with database(settings, wait=True, max_delay_s=wait_s, pool_size=4) as store, \
            broker(settings, wait=True, max_delay_s=wait_s) as queue:
        await run(settings, stop, store=store, queue=queue, ready=ready, start_at=start_at)


async def run(settings: Settings, stop: asyncio.Event, *, store: Store, queue: Publisher,
              ready: asyncio.Event | None = None, start_at: int | None = None) -> None:
    """Stand by, follow while this process holds the place, until `stop`; `ready` once it can.

    `start_at`: a first start's feed number (else the head pointer); a stored cursor wins."""
    async with aiohttp_transport() as transport:
        client = R2z2Client(transport, base_url=settings.r2z2_url,
                            user_agent=user_agent(settings.esi_contact))
        if ready is not None:
            ready.set()
        while not stop.is_set():
            place = await take(settings, store, stop)
            if place is None:
                break
            try:
                await _follow(settings, Following(client, store, queue, start_at), place, stop)
            finally:
                await place.release()
    log.info("kill feed follower stopped")


class Following:
    """What every follower of this process is made of: the feed's client, the store, the broker (to
    publish what the kills name), a first start's number."""

    def __init__(self, client: R2z2Client, store: Store, queue: Publisher, start_at: int | None) -> None:
        self.client, self.store, self.queue, self.start_at = client, store, queue, start_at

    def follower(self, settings: Settings, halt: asyncio.Event) -> Follower:
        """A follower starting from the stored cursor, whose waits end early at `halt`."""
        async def sleep(seconds: float) -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(halt.wait(), seconds)

        return Follower(self.client, StoredKillmails(self.store, self.queue),
                        StoredPace(self.store, settings.r2z2_max_rps), max_rps=settings.r2z2_max_rps,
                        clock=time.monotonic, sleep=sleep, start_at=self.start_at)


async def _follow(settings: Settings, parts: Following, place: Place, stop: asyncio.Event) -> None:
    """Follow until `stop`, or until the place cannot be renewed (another process may follow then)."""
    halt = asyncio.Event()
    keeping = asyncio.create_task(_keep(place, halt))
    stopping = asyncio.create_task(_then(stop, halt))
    try:
        with contextlib.suppress(*_FAILURES):
            await place.beat()  # says who follows at once, not a heartbeat later
        await _until(settings, parts, halt)
    finally:
        for task in (keeping, stopping):
            task.cancel()
        await asyncio.gather(keeping, stopping, return_exceptions=True)
    if not stop.is_set():
        log.warning("kill feed follower standing by", holder=place.holder)


async def _keep(place: Place, halt: asyncio.Event) -> None:
    await place.keep()
    halt.set()


async def _then(stop: asyncio.Event, halt: asyncio.Event) -> None:
    await stop.wait()
    halt.set()


async def _until(settings: Settings, parts: Following, halt: asyncio.Event) -> None:
    """Run followers until `halt`; one that fails is logged and, after a pause, replaced.

    Each follower waits `retry_404_s` before its first request: whoever asked the feed before it
    (another process that died, or this one before a failure) may have had a 404 in the last
    seconds, for numbers it cannot know, and none may be asked again within that time."""
    settle_s = Policy().retry_404_s
    backoff, loop = Backoff(first_s=1.0, max_s=settings.reconnect_max_delay_s), asyncio.get_running_loop()
    wait_s = settle_s
    while not halt.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(halt.wait(), wait_s)
        if halt.is_set():
            return
        follower, started = parts.follower(settings, halt), loop.time()
        try:
            await follower.run(halt.is_set)
        except _FAILURES as exc:
            if loop.time() - started > settings.reconnect_max_delay_s:
                backoff.reset()  # it followed a good while: this is a new failure, not the same one
            wait_s = max(backoff.next_delay(), settle_s)
            log.warning("kill feed follower failed; starting again from the stored cursor",
                        error=f"{type(exc).__name__}: {exc}".splitlines()[0], retry_in_s=wait_s)
