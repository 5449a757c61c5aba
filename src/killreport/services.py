"""Opening the database (a SQLite file or PostgreSQL) and reaching RabbitMQ: fail fast with one line
(CLI) or wait with backoff (workers). A SQLite file without the schema gets it on first use, so a
newcomer's first command works; PostgreSQL is migrated only by `killreport migrate`.

Errors::

    RuntimeError
    └── ServiceUnavailable    PostgreSQL or RabbitMQ unreachable, a SQLite file that cannot be
                              opened, or a PostgreSQL database without the schema; one line for a
                              human, passwords masked

`patiently` retries on ServiceUnavailable only; anything else is a bug and propagates.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Final, TypeVar

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from killreport.config import Settings, mask_url, sqlalchemy_url
from killreport.store import migrate
from killreport.store.interface import Store

log = structlog.get_logger("killreport.services")
T = TypeVar("T")

# What this process holds open right now, by kind: "database", "broker", "budget", "esi". `run`
# holds one of each, shared by its parts; a second budget in one process would agree with the
# first only through the database. A count: nothing is reached through it.
HELD: Final[Counter[str]] = Counter()


@contextmanager
def holding(kind: str) -> Iterator[None]:
    """Count one `kind` in HELD while the block runs."""
    HELD[kind] += 1
    try:
        yield
    finally:
        HELD[kind] -= 1


class ServiceUnavailable(RuntimeError):
    """A service cannot be reached or is not ready; the message is one line for a human."""


def _reason(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return text_.strip().splitlines()[0] if text_.strip() else type(exc).__name__


async def _check_database(store: Store, *, need_schema: bool) -> None:
    if not need_schema:
        await _version(store)
    elif await _version(store) is None:
        if store.dialect != "sqlite":
            raise ServiceUnavailable(f"the database at {mask_url(store.url)} has no killreport schema; "
                                     "run `killreport migrate`")
        await asyncio.to_thread(migrate.upgrade, store.url)


async def _version(store: Store) -> str | None:
    """The schema's revision (None: no schema), proving the database answers."""
    try:
        async with store.connect() as conn:
            await store.admin.ping(conn)
            return await store.admin.schema_version(conn)
    except (DBAPIError, OSError) as exc:
        where = mask_url(store.url)
        what = (f"the SQLite file {where} cannot be opened" if store.dialect == "sqlite" else
                f"PostgreSQL unreachable at {where}")
        raise ServiceUnavailable(f"{what}: {_reason(exc)}") from exc


async def patiently(connect: Callable[[], Awaitable[T]], *, wait: bool, max_delay_s: float) -> T:
    """`connect()`, retried with doubling delays on ServiceUnavailable when `wait`, else once."""
    delay = 0.5
    while True:
        try:
            return await connect()
        except ServiceUnavailable as exc:
            if not wait:
                raise
            log.warning("service unavailable; retrying", error=str(exc), retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(max_delay_s, delay * 2)


def open_store(settings: Settings, *, pool_size: int = 10, dedicated: bool = False) -> Store:
    """The Store DATABASE_URL names: a SQLite file (embedded) or PostgreSQL (`pool_size`
    connections); not yet connected.

    `dedicated`: no pool, so closing a connection really ends its session (the scheduler's lock)."""
    url = settings.database_url
    if settings.embedded:
        # Imported here: a PostgreSQL fleet never loads the SQLite store (nor aiosqlite).
        from killreport.store.sqlite.engine import open_engine
        from killreport.store.sqlite.store import sqlite_store

        # One connection, lent (store/sqlite/lent.py): engine.py says why the file is one queue, not a
        # pool. The pool's second is for what reads the engine directly (the web's queue stats).
        return sqlite_store(open_engine(url, pool_size=2, dedicated=dedicated), url, lend=True)
    # Imported here too: an embedded process never loads the PostgreSQL store (nor asyncpg).
    from killreport.store.postgres import postgres_store

    engine: AsyncEngine = (
        create_async_engine(sqlalchemy_url(url), poolclass=NullPool) if dedicated else
        create_async_engine(sqlalchemy_url(url), pool_size=pool_size, max_overflow=pool_size))
    return postgres_store(engine, url)


@asynccontextmanager
async def database(settings: Settings, *, wait: bool, need_schema: bool = True,
                   pool_size: int = 10, max_delay_s: float = 30.0) -> AsyncIterator[Store]:
    """A Store whose database answered (with the schema, if needed); waits if `wait`."""
    try:
        store = open_store(settings, pool_size=pool_size)
    except OSError as exc:  # a SQLite file's folder that cannot be made
        raise ServiceUnavailable(f"the SQLite file {mask_url(settings.database_url)} cannot be opened: "
                                 f"{exc.strerror or exc}") from exc
    try:
        # A SQLite file that cannot be opened will not open by waiting: only servers are waited for.
        await patiently(lambda: _check_database(store, need_schema=need_schema),
                        wait=wait and store.dialect != "sqlite", max_delay_s=max_delay_s)
        with holding("database"):
            yield store
    finally:
        await store.close()
