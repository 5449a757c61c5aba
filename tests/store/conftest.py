"""The contract tests' store: every test here runs once on PostgreSQL and once on SQLite.

`store` is a migrated Store with no killreport data, built as the processes build theirs
(`postgres_store`, `sqlite_store(open_engine(...))`). Kept fast: PostgreSQL gets one database
per session, migrated once and emptied before each test (DELETE, then identities restarted so change
ids start at 1 as on a new SQLite file; TRUNCATE took 0.4 s a test); the shared budget's PL/pgSQL
tables (esi_budget, ...) are left as migrated. SQLite gets a copy of a file migrated once per
session, so each test has its own. `both_stores` gives the two side by side, to compare whole
states; `open_store(url)` is how both fixtures open one.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Executable, text

from killreport.store import migrate
from killreport.store import tables as t
from killreport.store.interface import Dialect, Store
from tests import services
from tests.stores import as_store, engine_for

DIALECTS: tuple[Dialect, ...] = ("postgresql", "sqlite")
_EMPTY: list[Executable] = [
    *(table.delete() for table in t.metadata.tables.values()),
    *(text(f"ALTER TABLE {table.name} ALTER COLUMN {column.name} RESTART")
      for table in t.metadata.tables.values() for column in table.columns if column.identity is not None),
]


@pytest.fixture(scope="session")
def store_pg_url() -> Iterator[str]:
    """A PostgreSQL database for the store tests, migrated once (dropped at the end)."""
    name = services.unique_name("kr_store")
    url = asyncio.run(services.create_database(name))
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(services.drop_database(name))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test works on its own copy."""
    path = tmp_path_factory.mktemp("store") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=DIALECTS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a migrated database of the parametrized dialect (PostgreSQL's still holds data)."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("store_pg_url"))
    path = tmp_path / "killreport.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@contextlib.asynccontextmanager
async def open_store(url: str) -> AsyncIterator[Store]:
    """The Store on a migrated database's URL, emptied first if it is PostgreSQL's; closed after.

    SQLite's is the processes' own: one connection, lent in turn."""
    made = as_store(engine_for(url), url, lend=True)
    if made.dialect == "postgresql":
        async with made.begin() as conn:
            for statement in _EMPTY:
                await conn.execute(statement)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """A migrated Store with no killreport data, on PostgreSQL and on SQLite."""
    async with open_store(store_url) as made:
        yield made


@pytest.fixture
async def both_stores(store_pg_url: str, sqlite_template: Path,
                      tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    """An empty PostgreSQL Store and an empty SQLite one, side by side (for comparing whole states)."""
    path = tmp_path / "side-by-side.db"
    shutil.copyfile(sqlite_template, path)
    async with open_store(store_pg_url) as pg, open_store(f"sqlite:///{path}") as lite:
        yield pg, lite
