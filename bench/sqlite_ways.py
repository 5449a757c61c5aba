"""Per-statement cost of three ways to the SQLite file: a primary-key SELECT plus an upsert, alternated.

Run: .venv/bin/python bench/sqlite_ways.py [--statements 3000]
Prints one JSON object per way: wall and CPU microseconds per statement, on a scratch file (WAL).

    driver     the AsyncEngine on store/sqlite/driver.py (the embedded store's today)
    pysqlite   SQLAlchemy's sync pysqlite dialect, its connection from `creator=`, on the loop's thread
    aiosqlite  the AsyncEngine on aiosqlite (a thread hand-off per call)

store/sqlite/driver.py quotes the numbers in its verdict on whether it can go.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from killreport.store.sqlite.engine import open_engine

SELECT = text("SELECT id, v FROM t WHERE id = :id")
UPSERT = text("INSERT INTO t (id, v) VALUES (:id, :v) ON CONFLICT (id) DO UPDATE SET v = excluded.v")
WARM = 200


def _file(path: str, rows: int) -> None:
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    raw.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x") for i in range(rows)])
    raw.commit()
    raw.close()


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _per_statement(way: str, n: int, started: float, cpu: float) -> dict[str, Any]:
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    return {"way": way, "statements": 2 * n, "wall_us": round(wall / n / 2 * 1e6, 1),
            "cpu_us": round(used / n / 2 * 1e6, 1)}


async def _async_way(way: str, engine: AsyncEngine, n: int) -> dict[str, Any]:
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for i in range(WARM):
            await conn.execute(SELECT, {"id": i})
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            (await conn.execute(SELECT, {"id": i})).all()
            await conn.execute(UPSERT, {"id": i, "v": "y"})
        found = _per_statement(way, n, started, cpu)
    await engine.dispose()
    return found


async def _sync_way(path: str, n: int) -> dict[str, Any]:
    def opened() -> sqlite3.Connection:
        return sqlite3.connect(path, timeout=0, check_same_thread=False)

    engine = create_engine("sqlite://", creator=opened)
    event.listen(engine, "connect", _pragmas)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for i in range(WARM):
            conn.execute(SELECT, {"id": i})
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            conn.execute(SELECT, {"id": i}).all()
            conn.execute(UPSERT, {"id": i, "v": "y"})
            await asyncio.sleep(0)  # a job's turn of the loop between statements, as the others have
        found = _per_statement("pysqlite", n, started, cpu)
    engine.dispose()
    return found


async def run(n: int) -> list[dict[str, Any]]:
    """Each way over the same scratch file, one after another."""
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "bench.db")
        _file(path, n)
        return [await _async_way("driver", open_engine(f"sqlite:///{path}"), n),
                await _sync_way(path, n),
                await _async_way("aiosqlite", create_async_engine(f"sqlite+aiosqlite:///{path}"), n)]


def main() -> None:
    """Parse the arguments, run, print one JSON line per way."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--statements", type=int, default=3000, help="SELECT+upsert pairs per way")
    for found in asyncio.run(run(parser.parse_args().statements)):
        print(json.dumps(found))


if __name__ == "__main__":
    main()
