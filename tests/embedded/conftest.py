"""Default fixtures of tests/embedded: a SQLite file the processes create themselves, as a newcomer's would
(modules that import tests/embedded/sqlite_files.py get a migrated file instead)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.store.sqlite.engine import open_engine


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'killreport.db'}"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the test's file, for reading what the processes stored."""
    eng = open_engine(db_url)
    yield eng
    await eng.dispose()
