"""What a process that sends to ESI holds: the database, the broker and an ESI client on the shared
budget, opened once, with what runs beside them for as long (request counts flushed, downtime watched,
and on a SQLite file the commands' asks for the alliance list answered: sync/asked.py).

`killreport worker` and `killreport scheduler` each open one. `killreport run` opens one and hands it
to both its parts: one engine, one broker, one ESI client and one budget, where two budgets in one
process would agree only through the SQLite file or PostgreSQL, a round trip per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from killreport.config import Settings
from killreport.downtime import watch as watch_downtime
from killreport.esi.counting import Observer
from killreport.queue.broker import Broker
from killreport.services import database
from killreport.store.interface import Store
from killreport.sync.asked import serve as serve_asks
from killreport.wiring import Esi, broker, esi_client
from killreport.worker.stats import flush_forever


@dataclass(frozen=True, slots=True)
class Connected:
    """The services one process's parts share."""

    store: Store
    broker: Broker
    esi: Esi


@asynccontextmanager
async def connected(settings: Settings, *, pool_size: int,
                    observe: Observer | None = None) -> AsyncIterator[Connected]:
    """Store, broker and ESI client (waiting for the services), counting and watching while open.

    `observe` is told of every ESI request (the metrics, when on).
    """
    wait_s = settings.reconnect_max_delay_s
    async with database(settings, wait=True, max_delay_s=wait_s, pool_size=pool_size) as store, \
            broker(settings, wait=True, max_delay_s=wait_s) as mq, \
            esi_client(settings, observe) as esi:
        background = [
            asyncio.create_task(flush_forever(store, esi.counter, settings.stats_flush_s)),
            # Every process that sends asks /status while ESI is down: no fleet waits on a scheduler.
            asyncio.create_task(watch_downtime(esi.budget, esi.client)),
        ]
        if settings.embedded:  # every runner holds the runner lock: only it may talk to ESI
            background.append(asyncio.create_task(serve_asks(store, esi.client)))
        try:
            yield Connected(store, mq, esi)
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)


def shared_or_connected(shared: Connected | None, settings: Settings, *, pool_size: int,
                        observe: Observer | None) -> AbstractAsyncContextManager[Connected]:
    """`shared` as it is (whoever opened it closes it), or this part's own `connected`."""
    if shared is not None:
        return contextlib.nullcontext(shared)
    return connected(settings, pool_size=pool_size, observe=observe)
