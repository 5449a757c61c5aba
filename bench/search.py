"""Search at size: p50/p95 of `lookup.search` over a synthetic copy of many names, on both stores.

Run: .venv/bin/python bench/search.py [--characters 1000000] [--corporations 50000]
     [--alliances 5000] [--requests 50] [--store both|postgresql|sqlite]
Fills a private PostgreSQL database (dropped afterwards) and a SQLite file in a temporary folder
with direct inserts, in one transaction per store: names of two or three words of syllables (so that
trigrams repeat as in real names, some common), tickers of three to five letters; then ANALYZE, and
times `--requests` sequential searches of each text (a first page of 50, in process: the store's
statements only, no HTTP). Prints one JSON object per store: fill time, file or database size, and
per text its hits on the page and p50/p95 in ms. Trees are compared by putting a worktree's `src`
first on PYTHONPATH (what the texts find differs for one and two characters: see docs/web.md).
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from common import PG_ADMIN
from killreport.config import sqlalchemy_url
from killreport.ids import Kind
from killreport.store import migrate
from killreport.store import tables as t
from killreport.store.interface import Store
from killreport.store.postgres import postgres_store
from killreport.store.sqlite.engine import open_engine
from killreport.store.sqlite.store import sqlite_store

SYLLABLES = ("ka", "ro", "mi", "zen", "tor", "vex", "ul", "an", "dra", "qi", "sol", "ne", "gar", "is", "bo",
             "lek", "th", "ya", "cor", "pha", "wyn", "est", "oc", "fal", "ur", "hex", "ji", "pol")
# One and two characters, an exact ticker and an exact name (filled in), a common start, a common
# trigram, one common inside names and never at their start, a rare text, one that nothing has.
TEXTS = ["k", "Ka", "<ticker>", "<name>", "Zentor", "tor", "ka t", "rovex an", "qiwyn", "zzqx"]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CACHE = {"fetched_at": T0, "expires_at": T0, "etag": None, "last_modified": None, "checked_at": None}


def _name(rng: random.Random) -> str:
    return " ".join("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))).capitalize()
                    for _ in range(rng.randint(2, 3)))


def _ticker(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(3, 5)))


def rows(kind: str, count: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """`count` rows of the kind's table, every required column, ids from the kind's usual range."""
    first = {"alliance": 99_000_000, "corporation": 98_000_000, "character": 90_000_000}[kind]
    for n in range(count):
        row: dict[str, Any] = {"id": first + n, "name": _name(rng), **CACHE}
        if kind == "alliance":
            row |= {"ticker": _ticker(rng), "creator_id": 1, "creator_corporation_id": 1, "date_founded": T0}
        elif kind == "corporation":
            row |= {"ticker": _ticker(rng), "member_count": 1, "description": "", "friendly_fire": "legal",
                    "home_station_id": 1, "shares": 0, "state": "active", "type": "player_owned",
                    "tax_rate_isk": 0.1, "tax_rate_loyalty_point": 0.0, "war_eligible": True}
        else:
            row |= {"birthday": T0, "bloodline_id": 1, "race_id": 1, "corporation_id": 1, "gender": "female",
                    "achievement_score": 0}
        yield row


async def fill(store: Store, args: argparse.Namespace) -> dict[str, str]:
    """The rows, 10,000 to an insert, in one transaction; then ANALYZE. The exact texts to search."""
    rng, exact = random.Random(25), dict[str, str]()
    async with store.begin() as conn:
        sizes: list[tuple[Kind, int]] = [("alliance", args.alliances), ("corporation", args.corporations),
                                         ("character", args.characters)]
        for kind, count in sizes:
            batch: list[dict[str, Any]] = []
            for row in rows(kind, count, rng):
                batch.append(row)
                if len(batch) == 10_000:
                    await conn.execute(insert(t.ENTITY_TABLES[kind]), batch)
                    batch = []
            if batch:
                await conn.execute(insert(t.ENTITY_TABLES[kind]), batch)
            exact |= {"<ticker>": row["ticker"]} if kind == "corporation" else {}
            exact |= {"<name>": row["name"]} if kind == "character" else {}
    async with store.begin() as conn:  # committed: statistics are rows too
        await conn.execute(text("ANALYZE"))
    return exact


async def _size_mb(store: Store, url: str) -> float:
    if store.dialect == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        wal = path.with_name(path.name + "-wal")
        return round((path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / 1e6, 1)
    async with store.connect() as conn:
        size = (await conn.execute(text("SELECT pg_database_size(current_database())"))).scalar_one()
    return round(int(size) / 1e6, 1)


async def timed(store: Store, typed: str, requests: int) -> dict[str, Any]:
    """p50/p95 in ms of `requests` first pages of 50 for `typed` (after one unmeasured)."""
    took = []
    async with store.connect() as conn:
        for i in range(requests + 1):
            began = time.perf_counter()
            page = await store.lookup.search(conn, typed, offset=0, limit=50)
            if i:
                took.append((time.perf_counter() - began) * 1000)
    cuts = statistics.quantiles(took, n=20, method="inclusive")
    return {"hits": len(page.items), "more": page.more, "p50": round(statistics.median(took), 2),
            "p95": round(cuts[18], 2)}


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Migrate, fill, time each text."""
    await asyncio.to_thread(migrate.upgrade, url)
    store = (sqlite_store(open_engine(url), url, lend=True) if url.startswith("sqlite")
             else postgres_store(create_async_engine(sqlalchemy_url(url)), url))
    try:
        began = time.perf_counter()
        exact = await fill(store, args)
        out: dict[str, Any] = {"store": store.dialect, "fill_s": round(time.perf_counter() - began, 1),
                               "size_mb": await _size_mb(store, url)}
        for typed in TEXTS:
            out[typed] = {"text": exact.get(typed, typed), **await timed(store, exact.get(typed, typed),
                                                                        args.requests)}
        return out
    finally:
        await store.close()


async def main(args: argparse.Namespace) -> None:
    """The stores asked for, one after the other."""
    common = {"characters": args.characters, "corporations": args.corporations, "alliances": args.alliances,
              "date": dt.date.today().isoformat()}
    if args.store in ("both", "postgresql"):
        name = f"kr_bench_search_{int(time.time())}"
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            print(json.dumps({**common, **await measure(PG_ADMIN.rsplit("/", 1)[0] + "/" + name, args)}))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    if args.store in ("both", "sqlite"):
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps({**common, **await measure(f"sqlite:///{Path(folder) / 'bench.db'}", args)}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--characters", type=int, default=1_000_000)
    parser.add_argument("--corporations", type=int, default=50_000)
    parser.add_argument("--alliances", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--store", choices=("both", "postgresql", "sqlite"), default="both")
    asyncio.run(main(parser.parse_args()))
