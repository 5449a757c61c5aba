"""store/sqlite/driver.py: calls on the event loop's thread, waiting for another writer on a thread.

Another writer is a plain sqlite3 connection holding BEGIN IMMEDIATE (another process would hold
the same lock); the event loop must keep turning while a statement waits for it.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from killreport.store.sqlite import driver
from killreport.store.sqlite.engine import open_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = open_engine(f"sqlite:///{tmp_path / 'd.db'}", pool_size=1)
    async with made.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
    yield made
    await made.dispose()


@contextmanager
def write_lock_held(engine: AsyncEngine) -> Iterator[sqlite3.Connection]:
    """Another connection holding the file's write lock until the block ends (or it commits)."""
    other = sqlite3.connect(str(engine.url.database), isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        if other.in_transaction:
            other.execute("COMMIT")
        other.close()


def _release_after(other: sqlite3.Connection, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: other.execute("COMMIT"))
    timer.start()
    return timer


class Ticker:
    """Counts the event loop's turns: it must keep turning while a statement waits for the lock."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            self.ticks += 1

    def stop(self) -> None:
        self._task.cancel()


async def test_a_write_waits_for_another_writer_without_blocking_the_event_loop(engine: AsyncEngine) -> None:
    with write_lock_held(engine) as other:
        ticker = Ticker()
        timer = _release_after(other, 0.5)
        started = time.monotonic()
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        waited = time.monotonic() - started
        ticker.stop()
        timer.join()
    assert waited >= 0.4
    assert ticker.ticks >= 20, "the event loop stood still while the statement waited"
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT v FROM t"))).scalars().all() == ["a"]


async def test_begin_immediate_and_an_autocommit_write_wait_too(engine: AsyncEngine) -> None:
    auto = engine.execution_options(isolation_level="AUTOCOMMIT")
    with write_lock_held(engine) as other:
        timer = _release_after(other, 0.3)
        async with auto.connect() as conn:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            await conn.execute(text("INSERT INTO t (v) VALUES ('b')"))
            await conn.exec_driver_sql("COMMIT")
        timer.join()
    with write_lock_held(engine) as other:
        timer = _release_after(other, 0.3)
        async with auto.connect() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('c')"))
        timer.join()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all() == ["b", "c"]


async def test_many_rows_in_autocommit_are_each_written_once_when_a_writer_holds_the_lock(
        engine: AsyncEngine) -> None:
    auto = engine.execution_options(isolation_level="AUTOCOMMIT")
    with write_lock_held(engine) as other:
        timer = _release_after(other, 0.3)
        async with auto.connect() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": str(i)} for i in range(50)])
        timer.join()
    async with engine.begin() as conn:  # the same in a transaction (retried whole: nothing was written)
        with write_lock_held(engine) as other:
            timer = _release_after(other, 0.3)
            await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x"}, {"v": "y"}])
            timer.join()
    async with engine.connect() as conn:
        values = (await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
    assert values == [str(i) for i in range(50)] + ["x", "y"]


async def test_a_writer_holding_the_lock_past_the_busy_timeout_fails_the_statement(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    sqlite3.connect(path).execute("CREATE TABLE t (v TEXT)").connection.commit()
    patient = functools.partial(driver.connect, str(path), busy_timeout_ms=200)
    made = create_async_engine(f"sqlite+aiosqlite:///{path}", async_creator=patient)
    try:
        with write_lock_held(made):
            started = time.monotonic()
            with pytest.raises(OperationalError, match="database is locked"):
                async with made.begin() as conn:
                    await conn.execute(text("INSERT INTO t VALUES ('a')"))
            assert 0.15 <= time.monotonic() - started < 5
        async with made.begin() as conn:  # the connection is usable afterwards, without waiting
            await conn.execute(text("INSERT INTO t VALUES ('b')"))
    finally:
        await made.dispose()


async def test_errors_are_sqlite3s_and_reads_see_every_row(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (id, v) VALUES (1, 'a')"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (id, v) VALUES (1, 'again')"))
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": str(i)} for i in range(2000)])
        returned = await conn.execute(text("DELETE FROM t WHERE id > 1500 RETURNING id"))
        assert len(returned.all()) == 501
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT id FROM t ORDER BY id"))
        assert result.fetchone() == (1,)
        assert len(result.fetchmany(10)) == 10
        assert len(result.fetchall()) == 1500 - 11


async def test_a_call_left_waiting_by_a_cancelled_caller_ends_before_the_next_one_runs(
        engine: AsyncEngine) -> None:
    with write_lock_held(engine) as other:
        async def insert() -> None:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (v) VALUES ('cancelled')"))

        task = asyncio.create_task(insert())
        await asyncio.sleep(0.2)  # waiting for the lock on the connection's thread
        task.cancel()
        # Its clean-up (the pool's rollback) waits for the call, as aiosqlite's queue would.
        timer = _release_after(other, 0.3)
        with pytest.raises(asyncio.CancelledError):
            await task
        async with engine.begin() as conn:  # the pool's one connection: after the cancelled call
            await conn.execute(text("INSERT INTO t (v) VALUES ('next')"))
        timer.join()
    async with engine.connect() as conn:
        values = (await conn.execute(text("SELECT v FROM t"))).scalars().all()
    assert "next" in values
    assert set(values) <= {"cancelled", "next"}
