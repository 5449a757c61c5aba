"""Opening the SQLite file: WAL (readers never wait for the writer), a busy timeout, NORMAL sync.

The driver is driver.py's: sqlite3 called on the event loop's thread, a thread only to wait for
another writer's lock (it owns the busy timeout below).

Trade-offs, made here:
- WAL with `synchronous=NORMAL`: a commit is durable once the WAL is checkpointed; a power cut may
  lose the last transactions but never corrupts the file. A crash of the process loses nothing
  committed. Every step of a job is safe to repeat, so losing the last commits costs a refetch.
- `BUSY_TIMEOUT_MS`: another process (`sync-all`, `status`, `purge`) writing at the same moment makes
  a statement wait up to this long instead of failing with "database is locked".
- The pool never overflows, and the store uses ONE connection: SQLite has one writer, and
  connections of one process that contend for it do not queue, they poll (SQLite's busy handler
  sleeps 1, 2, 5 ... 100 ms between tries). With a pool of 16 an answer in hand waited up to
  0.84 s for its commit (seen in tests/embedded's SIGKILL test, as cache violations: a killed
  runner had answers it never stored); with one connection, jobs queue for it in order and are
  woken at once. Reads queue too; they take microseconds. The processes' store keeps that one
  connection out of the pool and lends it (lent.py); the pool's second serves what reads the engine
  directly (the web's queue statistics).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from killreport.store.sqlite import driver

SCHEME: Final = "sqlite:///"
BUSY_TIMEOUT_MS: Final = 30_000
_PRAGMAS: Final = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=OFF")


def path_of(database_url: str) -> Path:
    """The file a `sqlite:///path` URL names (relative to the working directory)."""
    if not database_url.startswith(SCHEME) or len(database_url) == len(SCHEME):
        raise ValueError(f"a SQLite URL is sqlite:///path/to/file.db, got {database_url!r}")
    return Path(database_url[len(SCHEME):])


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in _PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def open_engine(database_url: str, *, pool_size: int = 5, dedicated: bool = False,
                busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> AsyncEngine:
    """An engine on the file (created if absent, with its folder) with the pragmas above.

    `dedicated`: no pool (each connection closes for real), for a long-lived single connection."""
    path = path_of(database_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{path}"  # the dialect; the connections are driver.py's
    opened = functools.partial(driver.connect, str(path), busy_timeout_ms=busy_timeout_ms)
    engine = (create_async_engine(url, async_creator=opened, poolclass=NullPool) if dedicated else
              create_async_engine(url, async_creator=opened, pool_size=pool_size, max_overflow=0))
    event.listen(engine.sync_engine, "connect", _pragmas)
    return engine
