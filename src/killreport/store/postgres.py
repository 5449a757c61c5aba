"""The PostgreSQL store (distributed mode): store/'s modules behind the Store seam, on asyncpg."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.store import admin, histories, jobs, killmails, lookup, schedule
from killreport.store.interface import Store


def postgres_store(engine: AsyncEngine, url: str) -> Store:
    """The Store on a PostgreSQL engine (asyncpg)."""
    return Store(engine=engine, dialect="postgresql", url=url, jobs=jobs, schedule=schedule,
                 lookup=lookup, admin=admin, killmails=killmails, history=histories)
