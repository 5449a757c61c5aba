"""One fetcher of a list route at a time across the processes on a SQLite file: a flock beside it.

Why flock and not a row: the fetch is an ESI request, and a write transaction held across it would
stop every other writer of the file for its duration; a lock file held by a killed process is
released by the kernel (runner_lock.py says more). Waiting polls, so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

POLL_S: Final = 0.05


def lock_file(database: str, path: str) -> Path:
    """`<db file>.fetch<path with - for />.lock`, e.g. killreport.db.fetch-alliances.lock."""
    db = Path(database)
    return db.with_name(f"{db.name}.fetch{path.replace('/', '-')}.lock")


@contextlib.asynccontextmanager
async def fetch_lock(engine: AsyncEngine, path: str) -> AsyncIterator[None]:
    """No other process fetches `path` while the block runs (it waits for its turn first)."""
    database = engine.url.database
    if not database or database == ":memory:":  # one process only: nobody to keep out
        yield
        return
    fd = os.open(lock_file(database, path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(POLL_S)
        yield
    finally:
        os.close(fd)  # releases the lock
