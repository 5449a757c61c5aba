"""Tests' way to a Store from an engine they already hold, and to an engine of either dialect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from killreport.config import sqlalchemy_url
from killreport.store import migrate
from killreport.store.interface import Store
from killreport.store.postgres import postgres_store
from killreport.store.sqlite.engine import open_engine
from killreport.store.sqlite.store import sqlite_store


def as_store(engine: AsyncEngine, url: str | None = None, *, lend: bool = False) -> Store:
    """The Store of `engine`'s dialect; `url` the user's URL for it (else the engine's, masked).

    `lend`: SQLite's one connection lent in turn, as the processes' store has it (close the Store)."""
    url = url or engine.url.render_as_string(hide_password=True)
    if engine.dialect.name == "sqlite":
        return sqlite_store(engine, url, lend=lend)
    return postgres_store(engine, url)


def engine_for(url: str) -> AsyncEngine:
    """An engine on `url`, sqlite:/// or postgresql://, opened as the processes open it."""
    return open_engine(url) if url.startswith("sqlite:///") else create_async_engine(sqlalchemy_url(url))


@asynccontextmanager
async def migrated_engine(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on `url` (sqlite:/// or postgresql://) after the migrations ran on it."""
    await asyncio.to_thread(migrate.upgrade, url)
    engine = engine_for(url)
    try:
        yield engine
    finally:
        await engine.dispose()
