"""The Store on a SQLite file."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.store.interface import Store
from killreport.store.sqlite import admin, jobs, lookup, schedule


def sqlite_store(engine: AsyncEngine, url: str) -> Store:
    """The Store on a SQLite engine (aiosqlite; see store/sqlite/engine.py)."""
    return Store(engine=engine, dialect="sqlite", url=url, jobs=jobs, schedule=schedule,
                 lookup=lookup, admin=admin)
