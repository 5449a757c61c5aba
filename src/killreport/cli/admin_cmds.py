"""`migrate`, `status`, `purge` and `dlq ...`: looking after the system rather than syncing."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

from cyclopts import App, Parameter
from rich.console import Console

from killreport.cli import render
from killreport.cli.errors import UsageError
from killreport.cli.watch import watch as watching
from killreport.ids import Kind
from killreport.overview import status_data
from killreport.services import database
from killreport.store import migrate
from killreport.wiring import broker, budget_view, load_settings

dlq = App(name="dlq", help="Jobs that could not succeed: list, replay or drop them.")


async def migrate_cmd() -> int:
    """Create or upgrade the database schema."""
    settings = load_settings()
    async with database(settings, wait=False, need_schema=False):
        pass
    await asyncio.to_thread(migrate.upgrade, settings.database_url)
    print("schema is up to date")
    return 0


async def status(*, json: bool = False, watch: bool = False) -> int:
    """Queues, pending work, the ESI budget, what is stored, freshness; --watch redraws every second."""
    if json and watch:
        raise UsageError("--watch redraws a view for people; use --json alone for scripts")
    settings = load_settings()
    async with database(settings, wait=False) as store, broker(settings) as mq:
        if watch:
            return await watching(store, mq, budget_view(settings))
        data = await status_data(store, mq, budget_view(settings))
    if json:
        print(render.as_json(data))
    else:
        console = Console()
        for table in render.status_tables(data):
            console.print(table)
    return 0


async def purge(*, yes: bool = False) -> int:
    """Empty every sync and retry queue (asks first; --yes skips the question)."""
    settings = load_settings()
    if not yes and not _confirm("Empty every killreport queue? [y/N] "):
        print("nothing purged")
        return 1
    async with database(settings, wait=False) as store, broker(settings) as mq:
        lost = await mq.purge()
        async with store.begin() as conn:
            await store.jobs.forget_unclaimed(conn)
    for name, count in sorted(lost.items()):
        print(f"{name}: {count} messages purged")
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("purge needs --yes when not run interactively")
    return input(question).strip().lower() in ("y", "yes")


@dlq.command(name="list")
async def dlq_list(*, limit: Annotated[int, Parameter(name="--limit")] = 50,
                   json: bool = False) -> int:
    """Show dead letters with their reason, attempts and last error (they stay in the queue)."""
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    async with broker(load_settings()) as mq:
        letters = await mq.dead_letters(limit)
    rows = [{"kind": d.kind, "id": d.entity_id, "reason": d.reason, "attempts": d.attempts,
             "last_error": d.last_error} for d in letters]
    if json:
        print(render.as_json({"dead_letters": rows}))
    else:
        for r in rows:
            print(f"{r['kind'] or '?'} {r['id'] or '?'}: {r['reason']} "
                  f"(attempts {r['attempts']}; last error: {r['last_error']})")
        print(f"{len(rows)} dead letter(s) shown")
    return 0


@dlq.command(name="replay")
async def dlq_replay(*, kind: Kind | None = None, limit: int | None = None) -> int:
    """Put dead letters back on their queue with a fresh attempt count."""
    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    async with broker(load_settings()) as mq:
        moved = await mq.replay_dead(kind, limit)
    print(f"{moved} dead letter(s) replayed")
    return 0


@dlq.command(name="purge")
async def dlq_purge(*, yes: bool = False) -> int:
    """Drop every dead letter (asks first; --yes skips the question)."""
    if not yes and not _confirm("Drop every dead letter? [y/N] "):
        print("nothing purged")
        return 1
    async with broker(load_settings()) as mq:
        dropped = await mq.purge_dead()
    print(f"{dropped} dead letter(s) dropped")
    return 0
