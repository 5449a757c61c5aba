"""SQLite only: the embedded store's atomic writes when another process holds the file's write lock.

A job's BEGIN IMMEDIATE waits for the lock (the busy timeout) and then writes everything; if the
lock is not given back in time it fails before writing anything, and the connection stays usable.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from killreport.store.interface import Store
from killreport.store.sqlite import driver
from killreport.store.sqlite.store import sqlite_store
from tests.store.conftest import open_store
from tests.store.test_jobs_contract import HOUR, corporation, facts, pending, row_of


@pytest.fixture
def lite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """The URL of this test's own copy of the migrated file."""
    path = tmp_path / "k.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
async def lite(lite_url: str) -> AsyncIterator[Store]:
    """A SQLite Store on its own copy of the migrated file."""
    async with open_store(lite_url) as made:
        yield made


@contextmanager
def write_lock(store: Store) -> Iterator[sqlite3.Connection]:
    """Another process's view: a plain sqlite3 connection holding the file's write lock."""
    other = sqlite3.connect(store.url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()


async def test_a_job_waits_for_the_lock_and_then_writes_everything(lite: Store) -> None:
    with write_lock(lite) as other:
        async with lite.autocommit() as conn:
            job = asyncio.create_task(lite.jobs.store_and_finish(conn, 98000001, corporation(), facts(HOUR),
                                                                 ("character", [90000001])))
            await asyncio.sleep(0.3)
            assert not job.done(), "waiting for the other writer"
            other.execute("COMMIT")
            assert await job == [90000001]
    assert await row_of(lite, "corporation", 98000001) is not None
    assert await pending(lite, "character") == {90000001: (True, 0, False)}


async def test_a_lock_held_past_the_busy_timeout_fails_the_job_before_it_writes(lite: Store) -> None:
    # The file's own driver, with 0.2 s of patience instead of open_engine's 30 s.
    path = lite.url.removeprefix("sqlite:///")
    impatient = sqlite_store(create_async_engine(
        f"sqlite+aiosqlite:///{path}", poolclass=NullPool,
        async_creator=functools.partial(driver.connect, path, busy_timeout_ms=200)), lite.url)
    try:
        async with impatient.autocommit() as conn:
            with write_lock(lite), pytest.raises(OperationalError, match="locked"):
                await impatient.jobs.store_and_finish(conn, 98000001, corporation(), facts(HOUR),
                                                      ("character", [1]))
            # Nothing was begun, so nothing is left open: the next write commits on its own.
            await impatient.jobs.add(conn, "character", [2], skip_fresh=False)
    finally:
        await impatient.engine.dispose()
    assert await row_of(lite, "corporation", 98000001) is None
    assert await pending(lite, "character") == {2: (False, 0, False)}
