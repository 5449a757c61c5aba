"""What the daily snapshots cost: taking a day, finding it taken, and reading a trend, on both stores.

Run: .venv/bin/python bench/snapshots.py [--alliances 3550] [--corporations 17750] [--days 60]
Prints one JSON object per store. Makes its own PostgreSQL database (dropped afterwards) and a
SQLite file in a temporary folder; the copy is synthetic (direct inserts: alliances with their
member lists, active corporations), the size of the simulator's default universe by default.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from common import PG_ADMIN
from killreport.config import sqlalchemy_url
from killreport.store import migrate, snapshots
from killreport.store import tables as t
from killreport.store.interface import Store
from killreport.store.postgres import postgres_store
from killreport.store.sqlite.engine import open_engine
from killreport.store.sqlite.store import sqlite_store

FOUNDED = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def _copy(alliances: int, corporations: int) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    owners = [99_000_000 + rng.randrange(alliances) for _ in range(corporations)]
    return {
        "alliances": [{"id": 99_000_000 + n, "name": f"A{n}", "ticker": "A", "creator_id": 90_000_001,
                       "creator_corporation_id": 98_000_001, "date_founded": FOUNDED, "fetched_at": now,
                       "members_fetched_at": now} for n in range(alliances)],
        "corporations": [{"id": 98_000_000 + n, "name": f"C{n}", "ticker": "C", "alliance_id": owner,
                          "member_count": rng.randrange(1, 3000), "description": "", "friendly_fire": "legal",
                          "home_station_id": 60_000_001, "shares": 0, "state": "active",
                          "type": "player_owned", "tax_rate_isk": 0.1, "tax_rate_loyalty_point": 0.0,
                          "war_eligible": True, "fetched_at": now} for n, owner in enumerate(owners)],
        "alliance_corporations": [{"alliance_id": owner, "corporation_id": 98_000_000 + n}
                                  for n, owner in enumerate(owners)]}


async def _fill(store: Store, copy: dict[str, list[dict[str, Any]]]) -> None:
    async with store.begin() as conn:
        for name, rows in copy.items():
            for start in range(0, len(rows), 5000):
                await conn.execute(insert(t.metadata.tables[name]), rows[start:start + 5000])


async def _timed_take(store: Store, day: dt.date) -> tuple[int, float]:
    began = time.perf_counter()
    async with store.begin() as conn:
        written = await snapshots.take_snapshots(conn, day)
    return written, time.perf_counter() - began


async def _trend_ms(store: Store, alliances: int) -> float:
    """The median of 200 trend reads of random alliances, 90 days each, in ms."""
    rng, took = random.Random(3), []
    async with store.connect() as conn:
        for _ in range(200):
            began = time.perf_counter()
            await snapshots.trend(conn, "alliance", 99_000_000 + rng.randrange(alliances), days=90)
            took.append(time.perf_counter() - began)
    return statistics.median(took) * 1000


async def _size_mb(store: Store, url: str) -> float:
    """The snapshots' table with its indexes (PostgreSQL), or the whole file (SQLite), in MB."""
    if store.dialect == "sqlite":
        return round(Path(url.removeprefix("sqlite:///")).stat().st_size / 1e6, 1)
    async with store.connect() as conn:
        size = (await conn.execute(text("SELECT pg_total_relation_size('entity_snapshots')"))).scalar_one()
    return round(int(size) / 1e6, 1)


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fill the copy, take `days` days (today last), take today again, read trends."""
    await asyncio.to_thread(migrate.upgrade, url)
    store = (sqlite_store(open_engine(url), url, lend=True) if url.startswith("sqlite")
             else postgres_store(create_async_engine(sqlalchemy_url(url)), url))
    try:
        await _fill(store, _copy(args.alliances, args.corporations))
        today = dt.datetime.now(dt.UTC).date()
        days = [await _timed_take(store, today - dt.timedelta(days=n)) for n in range(args.days - 1, -1, -1)]
        again = await _timed_take(store, today)
        return {"store": store.dialect, "rows_a_day": days[-1][0], "days": args.days,
                "table_mb": await _size_mb(store, url),
                "take_s_median": round(statistics.median(s for _, s in days), 3),
                "take_s_last": round(days[-1][1], 3), "taken_again_rows": again[0],
                "taken_again_s": round(again[1], 4), "trend_90_days_ms_median": round(
                    await _trend_ms(store, args.alliances), 2)}
    finally:
        await store.close()


async def main(args: argparse.Namespace) -> None:
    """Both stores, one after the other."""
    name = f"kr_bench_snapshots_{int(time.time())}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        print(json.dumps(await measure(PG_ADMIN.rsplit("/", 1)[0] + "/" + name, args)))
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(await measure(f"sqlite:///{Path(folder) / 'bench.db'}", args)))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alliances", type=int, default=3550)
    parser.add_argument("--corporations", type=int, default=17750)
    parser.add_argument("--days", type=int, default=60)
    asyncio.run(main(parser.parse_args()))
