"""The embedded store's one connection, lent to one block at a time (store/sqlite/lent.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from killreport.store.sqlite.fast import driver_of
from killreport.store.sqlite.lent import LentConnection
from tests.embedded.sqlite_files import db_file, db_url, engine, migrated_template

__all__ = ["db_file", "db_url", "engine", "migrated_template"]  # fixtures


@pytest.fixture
async def lent(engine: AsyncEngine, db_file: Path) -> AsyncIterator[LentConnection]:
    with sqlite3.connect(db_file) as setup:
        setup.execute("CREATE TABLE notes (path TEXT NOT NULL)")
    made = LentConnection(engine, wait_s=0.5)
    yield made
    await made.close()


def _rows(db_file: Path) -> list[str]:
    """What another process sees in the test's table."""
    with sqlite3.connect(db_file) as other:
        return [r[0] for r in other.execute("SELECT path FROM notes ORDER BY path")]


_INSERT = text("INSERT INTO notes (path) VALUES (:p)")


async def test_blocks_take_turns_on_one_connection(lent: LentConnection) -> None:
    inside: list[int] = []
    seen: set[int] = set()

    async def block(n: int) -> None:
        async with lent.connect() as conn:
            inside.append(n)
            seen.add(id(driver_of(conn)))
            assert len(inside) == 1, f"blocks {inside} hold the connection at once"
            await asyncio.sleep(0.01)
            inside.remove(n)

    await asyncio.gather(*(block(n) for n in range(8)))
    assert len(seen) == 1  # the same connection every time


async def test_autocommit_statements_commit_on_their_own(lent: LentConnection, db_file: Path) -> None:
    async with lent.autocommit() as conn:
        await conn.execute(_INSERT, {"p": "/a"})
        assert _rows(db_file) == ["/a"]  # another process sees it before the block ends


async def test_begin_commits_at_the_end_and_rolls_back_on_error(lent: LentConnection, db_file: Path) -> None:
    async with lent.begin() as conn:
        await conn.execute(_INSERT, {"p": "/kept"})
        assert _rows(db_file) == []  # not before the commit
    assert _rows(db_file) == ["/kept"]
    with pytest.raises(RuntimeError, match="boom"):
        async with lent.begin() as conn:
            await conn.execute(_INSERT, {"p": "/lost"})
            raise RuntimeError("boom")
    assert _rows(db_file) == ["/kept"]
    async with lent.connect() as conn:  # and the connection is usable after the rollback
        assert not driver_of(conn).in_transaction


async def test_a_transaction_a_block_left_open_is_rolled_back(lent: LentConnection, db_file: Path) -> None:
    async with lent.connect() as conn:
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
        await conn.execute(_INSERT, {"p": "/abandoned"})
    with sqlite3.connect(db_file, timeout=0) as other:  # the write lock is free again
        other.execute("INSERT INTO notes (path) VALUES ('/other')")
    assert _rows(db_file) == ["/other"]


async def test_a_block_waiting_too_long_fails_instead_of_hanging(lent: LentConnection) -> None:
    async with lent.connect():
        with pytest.raises(TimeoutError):
            async with lent.connect():  # nested: would wait for itself
                pass
    async with lent.connect() as conn:  # the lock was not left held
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


async def test_an_invalidated_connection_is_replaced(lent: LentConnection) -> None:
    async with lent.connect() as conn:
        first = driver_of(conn)
        await conn.invalidate()
    async with lent.connect() as conn:
        assert driver_of(conn) is not first
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


async def test_close_gives_the_connection_back_to_the_pool(lent: LentConnection, engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    async with lent.connect():
        pass
    assert pool.checkedout() == 1  # kept between blocks
    await lent.close()
    assert pool.checkedout() == 0  # so disposing of the engine closes it
    async with lent.connect() as conn:  # and a later block takes it again
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
