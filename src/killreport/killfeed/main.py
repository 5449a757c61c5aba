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
import datetime as dt
import time

import structlog
from sqlalchemy.exc import DBAPIError

from killreport.agent import user_agent
from killreport.backfill.shared_pace import StoredPace
from killreport.config import Settings
from killreport.esi.client import EsiClient
from killreport.esi.errors import EsiError
from killreport.killfeed import gap
from killreport.killfeed.adapter import StoredKillmails
from killreport.killfeed.lease import Place, take
from killreport.queue.broker import BrokerError, Publisher
from killreport.r2z2 import Follower, Policy, R2z2Client, aiohttp_transport
from killreport.r2z2.errors import R2z2Error
from killreport.r2z2.paced import PacedFeed
from killreport.store.interface import Store
from killreport.worker.connected import connected
from killreport.worker.runner import Backoff

log = structlog.get_logger("killreport.killfeed")
_FAILURES = (DBAPIError, OSError, TimeoutError, BrokerError)


async def follow_alone(settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None = None,
                       start_at: int | None = None) -> None:
    """`killreport killmails follow`: its own database, broker and ESI client (for the day files' gaps,
    waiting for the services), then `run`."""
    async with connected(settings, pool_size=6) as shared:
        await run(settings, stop, store=shared.store, queue=shared.broker, esi=shared.esi.client, ready=ready,
                  start_at=start_at)


async def run(settings: Settings, stop: asyncio.Event, *, store: Store, queue: Publisher,
              esi: EsiClient | None = None, ready: asyncio.Event | None = None,
              start_at: int | None = None) -> None:
    """Stand by, follow while this process holds the place, until `stop`; `ready` once it can.

    `start_at`: a first start's feed number (else the head pointer); a stored cursor wins. `esi`: what
    filling a gap from the day files asks for the bodies their raw files lack (None: left unfinished)."""
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
                await _follow(settings, Following(client, store, queue, start_at, esi), place, stop)
            finally:
                await place.release()
    log.info("kill feed follower stopped")


class Following:
    """What every follower of this process is made of: the feed's client, the store, the broker (to
    publish what the kills name), a first start's number, the ESI client a gap's back-fill may ask."""

    def __init__(self, client: R2z2Client, store: Store, queue: Publisher, start_at: int | None,
                 esi: EsiClient | None = None) -> None:
        self.client, self.store, self.queue, self.start_at, self.esi = client, store, queue, start_at, esi
        self.gap_found = asyncio.Event()  # a restart after a gap wanted days: fill them now

    def day_files(self, settings: Settings) -> PacedFeed:
        """R2Z2's day files through the shared pace."""
        return PacedFeed(self.client, StoredPace(self.store, settings.r2z2_max_rps), sleep=asyncio.sleep)

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
    filling = asyncio.create_task(_fill_gaps(settings, parts, halt))
    try:
        with contextlib.suppress(*_FAILURES):
            await place.beat()  # says who follows at once, not a heartbeat later
        await _until(settings, parts, halt)
    finally:
        for task in (keeping, stopping, filling):
            task.cancel()
        await asyncio.gather(keeping, stopping, filling, return_exceptions=True)
    if not stop.is_set():
        log.warning("kill feed follower standing by", holder=place.holder)


async def _fill_gaps(settings: Settings, parts: Following, halt: asyncio.Event) -> None:
    """While following: back-fill the days a gap left (killfeed/gap.py) now and every FILL_EVERY_S."""
    feed = parts.day_files(settings)
    while not halt.is_set():
        parts.gap_found.clear()
        try:
            await gap.fill_wanted(parts.store, feed, parts.esi, parts.queue)
        except (*_FAILURES, R2z2Error, EsiError) as exc:
            log.warning("kill feed gap not filled yet", error=f"{type(exc).__name__}: {exc}".splitlines()[0])
        await _first(halt, parts.gap_found, gap.FILL_EVERY_S)


async def _first(one: asyncio.Event, other: asyncio.Event, timeout_s: float) -> None:
    """Return once either event is set, or after `timeout_s`."""
    waits = [asyncio.create_task(one.wait()), asyncio.create_task(other.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


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
            if await gap.restart_if_away(parts.store, settings.r2z2_retention_s, dt.datetime.now(dt.UTC),
                                         parts.day_files(settings).head):
                parts.gap_found.set()
            await follower.run(halt.is_set)
        except (*_FAILURES, R2z2Error) as exc:  # R2Z2: its head pointer, when restarting after a gap
            if loop.time() - started > settings.reconnect_max_delay_s:
                backoff.reset()  # it followed a good while: this is a new failure, not the same one
            wait_s = max(backoff.next_delay(), settle_s)
            log.warning("kill feed follower failed; starting again from the stored cursor",
                        error=f"{type(exc).__name__}: {exc}".splitlines()[0], retry_in_s=wait_s)
