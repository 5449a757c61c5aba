"""Connecting to PostgreSQL and RabbitMQ: fail fast with one line (CLI) or wait with backoff (workers).

Errors::

    RuntimeError
    └── ServiceUnavailable    PostgreSQL or RabbitMQ unreachable, or the database has no schema;
                              one line for a human, passwords masked

`patiently` retries on ServiceUnavailable only; anything else is a bug and propagates.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from killreport.config import Settings, mask_url, sqlalchemy_url

log = structlog.get_logger("killreport.services")

T = TypeVar("T")


class ServiceUnavailable(RuntimeError):
    """A service cannot be reached or is not ready; the message is one line for a human."""


def _reason(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return text_.strip().splitlines()[0] if text_.strip() else type(exc).__name__


async def _check_database(engine: AsyncEngine, url: str, *, need_schema: bool) -> None:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            if need_schema:
                await conn.execute(text("SELECT version_num FROM alembic_version"))
    except ProgrammingError as exc:
        raise ServiceUnavailable(
            f"the database at {mask_url(url)} has no killreport schema; run `killreport migrate`"
        ) from exc
    except (DBAPIError, OSError) as exc:
        raise ServiceUnavailable(
            f"PostgreSQL unreachable at {mask_url(url)}: {_reason(exc)}") from exc


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


@asynccontextmanager
async def database(settings: Settings, *, wait: bool, need_schema: bool = True,
                   pool_size: int = 10, max_delay_s: float = 30.0) -> AsyncIterator[AsyncEngine]:
    """An engine whose database answered (with the schema, if needed); waits if `wait`."""
    engine = create_async_engine(sqlalchemy_url(settings.database_url), pool_size=pool_size,
                                 max_overflow=pool_size)
    try:
        await patiently(lambda: _check_database(engine, settings.database_url, need_schema=need_schema),
                        wait=wait, max_delay_s=max_delay_s)
        yield engine
    finally:
        await engine.dispose()
