"""The PostgreSQL store (distributed mode): the tuned statements of store/*.py and store/sql/ behind
the Store seam.

Each module here only names which statement answers which question of store/interface.py; the
SQL itself stays beside its concern in store/ (entities, pending, schedule, lookup, ...).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.store.interface import Store
from killreport.store.pg import admin, jobs, lookup, schedule

__all__ = ["postgres_store"]


def postgres_store(engine: AsyncEngine, url: str) -> Store:
    """The Store on a PostgreSQL engine (asyncpg)."""
    return Store(engine=engine, dialect="postgresql", url=url, jobs=jobs, schedule=schedule,
                 lookup=lookup, admin=admin)
