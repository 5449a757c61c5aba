"""Fixtures for tests of the embedded parts: migrated SQLite files (import them into a test module)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.store import migrate
from killreport.store.sqlite.engine import open_engine


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session (the real migration, not create_all)."""
    path = tmp_path_factory.mktemp("embedded") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_file(tmp_path: Path, migrated_template: Path) -> Path:
    """This test's own migrated file."""
    path = tmp_path / "killreport.db"
    shutil.copyfile(migrated_template, path)
    return path


@pytest.fixture
def db_url(db_file: Path) -> str:
    """The sqlite:/// URL of this test's migrated file."""
    return f"sqlite:///{db_file}"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on this test's file, as the processes open it."""
    made = open_engine(db_url)
    yield made
    await made.dispose()


@pytest.fixture
async def other_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A second engine on the same file, standing in for a second process."""
    made = open_engine(db_url)
    yield made
    await made.dispose()
