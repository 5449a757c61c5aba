"""`sync-alliances`, `sync-corporations`, `sync-characters`, `sync-all` and `queue`.

Only the alliance list is fetched from ESI here; the other stages queue what the store references.
On a SQLite file the list comes from the process holding its runner lock (sync/asked.py says why):
this one while it holds it, else the runner, asked through the file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Final

from cyclopts import Parameter
from rich.console import Console

from killreport.cli import render
from killreport.cli.errors import UsageError
from killreport.config import Settings
from killreport.embedded import working_here
from killreport.ids import Kind, refusal
from killreport.queue.broker import Broker
from killreport.runner_lock import RunnerLockHeld
from killreport.services import database
from killreport.store.interface import Store
from killreport.store.sqlite.engine import path_of
from killreport.sync.asked import from_runner
from killreport.sync.enqueue import enqueue
from killreport.sync.orchestrate import Progress, alliance_ids, referenced, wait_until_done
from killreport.wiring import broker, budget_view, esi_client, load_settings, runner_lock
from killreport.worker.stats import flush_once

_ERR: Final = Console(stderr=True)


async def _stage(kind: Kind, command: str) -> int:
    queued = await _queue_only(load_settings(), kind, command)
    print(f"queued {queued} {kind} job(s)")
    return 0


async def _queue_only(settings: Settings, kind: Kind, command: str) -> int:
    """Queue `kind`'s jobs for the workers and return how many (nothing waits for them)."""
    async with database(settings, wait=False) as store, broker(settings) as mq:
        return await _staged(settings, store, mq, kind, command)


async def _staged(settings: Settings, store: Store, mq: Broker, kind: Kind, command: str, *,
                  working: bool = False) -> int:
    """Queue one stage in full (workers skip what is still fresh without a request).

    `working`: this process holds the SQLite file's runner lock and answers asks (sync-all --wait)."""
    if kind != "alliance":
        ids = await referenced(store, kind)
    elif not settings.embedded:
        ids = await _fetched_here(settings, store)
    elif working:
        ids = await from_runner(store, path_of(settings.database_url))
    else:
        ids = await _alliances_on_file(settings, store, command)
    return await enqueue(store, mq, kind, ids, skip_fresh=False)


async def _alliances_on_file(settings: Settings, store: Store, command: str) -> list[int]:
    """The alliance list on a SQLite file: fetched holding its runner lock, or by the runner holding it."""
    try:
        lock = runner_lock(settings, command)
    except RunnerLockHeld:
        return await from_runner(store, path_of(settings.database_url))
    with lock:
        return await _fetched_here(settings, store)


async def _fetched_here(settings: Settings, store: Store) -> list[int]:
    """The alliance list through this process's budget, its request added to the log."""
    async with esi_client(settings) as esi:
        try:
            return await alliance_ids(esi.client, store)
        finally:
            await flush_once(store, esi.counter)


async def sync_alliances() -> int:
    """Fetch the alliance list and queue every alliance (each job stores it and its members)."""
    return await _stage("alliance", "killreport sync-alliances")


async def sync_corporations() -> int:
    """Queue every corporation the stored alliances reference: members, creators, executors."""
    return await _stage("corporation", "killreport sync-corporations")


async def sync_characters() -> int:
    """Queue every character the stored alliances and corporations reference."""
    return await _stage("character", "killreport sync-characters")


async def sync_all(*, wait: bool = False) -> int:
    """Queue every alliance; each job queues what it discovers. --wait blocks until all is done.

    On a SQLite file that no `killreport run` holds, --wait also does the work, in this process.
    """
    settings = load_settings()
    if not wait:
        _queued(settings, await _queue_only(settings, "alliance", "killreport sync-all"), working=False)
        return 0
    async with database(settings, wait=False) as store:
        async with working_here(settings) as here, broker(settings) as mq:
            started = time.monotonic()
            before = await _totals(store)
            _queued(settings, await _staged(settings, store, mq, "alliance", "killreport sync-all --wait",
                                            working=here), working=here)
            final = await wait_until_done(store, mq, _show(settings), poll_s=1.0, on_outage=_outage,
                                          budget=budget_view(settings))
        if not here:
            # Other processes did the work: each adds its counts to the log every STATS_FLUSH_S.
            await asyncio.sleep(settings.stats_flush_s + 0.5)
        # Read once this process's worker has stopped and added its last counts (worker/stats.py).
        after = await _totals(store)
    requests = {code: after.get(code, 0) - before.get(code, 0) for code in after}
    render.summary(Console(), {"seconds": time.monotonic() - started, "stored": final.stored,
                               "requests": {k: v for k, v in requests.items() if v}})
    return 0


def _queued(settings: Settings, count: int, *, working: bool) -> None:
    """Say what was queued and who does the work."""
    who = ("this process works them" if working else
           "the runner works them (`killreport run`)" if settings.embedded else
           "workers cascade to corporations and characters")
    _ERR.print(f"queued {count} alliance job(s); {who}", highlight=False)


def _show(settings: Settings) -> Callable[[Progress], Awaitable[None]]:
    """The progress printer: one line per poll, and a hint while nobody consumes."""
    start = "`killreport run`" if settings.embedded else "one with `killreport worker all`"

    async def show(p: Progress) -> None:
        if p.consumers == 0 and p.remaining:
            _ERR.print(f"no worker is consuming: start {start}", highlight=False)
        _ERR.print(render.progress_line(p), highlight=False, soft_wrap=True)

    return show


async def _outage(reason: str) -> None:
    _ERR.print(f"waiting: a service is unreachable ({reason})", highlight=False, soft_wrap=True)


async def _totals(store: Store) -> dict[int, int]:
    async with store.connect() as conn:
        return await store.admin.request_totals(conn)


def _checked_ids(kind: Kind, texts: list[str]) -> list[int]:
    """The ids typed on the command line, or UsageError naming the first one that cannot be queued."""
    ids = []
    for text in texts:
        try:
            entity_id = int(text)
        except ValueError:
            raise UsageError(f"{text!r} is not a numeric id") from None
        why = refusal(kind, entity_id)
        if why is not None:
            raise UsageError(why)
        ids.append(entity_id)
    return ids


async def queue(kind: Kind, ids: Annotated[list[str], Parameter(allow_leading_hyphen=True)]) -> int:
    """Queue single entities: `killreport queue corporation 98000001 98000002`."""
    checked = _checked_ids(kind, ids)
    settings = load_settings()
    async with database(settings, wait=False) as store, broker(settings) as mq:
        queued = await enqueue(store, mq, kind, checked, skip_fresh=True)
    print(f"queued {queued} of {len(checked)} {kind} job(s) (the rest are pending or fresh)")
    return 0
