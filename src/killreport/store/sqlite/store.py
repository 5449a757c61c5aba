"""The Store on a SQLite file."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.store import admin, histories, jobs, killmails, lookup, schedule
from killreport.store.interface import Store
from killreport.store.sqlite.lent import LentConnection


def sqlite_store(engine: AsyncEngine, url: str, *, lend: bool = False) -> Store:
    """The Store on a SQLite engine (see store/sqlite/engine.py).

    `lend`: one connection kept open and lent to each block in turn (lent.py says why; the
    processes' store); else connections from the engine's pool (a test's engine, shared)."""
    return Store(engine=engine, dialect="sqlite", url=url, jobs=jobs, schedule=schedule,
                 lookup=lookup, admin=admin, killmails=killmails, history=histories,
                 connections=LentConnection(engine) if lend else None)
