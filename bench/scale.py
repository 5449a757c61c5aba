"""The copy of a universe as big as EVE, built directly in the store: the load half of issue 25's bench.

Run: .venv/bin/python bench/scale.py --characters 1000000 --corporations 50000 --dialect postgresql
     [--alliances 3550] [--seed 1] [--batch 50000] [--sqlite-path /tmp/scale.sqlite] [--keep]
     [--database-url URL]

Builds what a complete sync of `killreport sim --seed S --alliances A --population-characters N
--population-corporations M` would leave in the store, without a single request: the simulator's own
derivation (sim/universe.py, sim/population.py) renders every body as its routes would at the current
compatibility date, the store's models and rows (store/rows.py) turn it into the row a sync writes, and
the rows are bulk loaded: `COPY` on PostgreSQL (asyncpg `copy_records_to_table`), one transaction of
`executemany` on SQLite. Living characters go to `characters`, deleted ones to `character_tombstones`;
the generated universe's truth (alliances, member lists, their corporations, CEOs and creators) first,
then every population corporation and character. Histories and kills are not loaded.

Prints one JSON object: rows by table, generate_s (Python deriving rows), load_s (the database taking
them), rows_per_s (rows / load_s), total_s, data_bytes (PostgreSQL: pg_total_relation_size of the tables
loaded, indexes included; SQLite: the file after a checkpoint), db_bytes (PostgreSQL: the whole database,
its empty catalog included) and data_bytes per million characters.

Not done here (issue 25's other half): running the scheduler, sweeps and workers against the simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import Table
from sqlalchemy.dialects import sqlite as sqlite_dialect

from killreport.ids import Kind
from killreport.sim import schemas
from killreport.sim.cache import dumps, etag_of
from killreport.sim.options import default_deleted
from killreport.sim.population import CHARACTER_BASE, CORPORATION_BASE, Population, reserved_blocks
from killreport.sim.roster import Roster
from killreport.sim.truth import truth
from killreport.sim.universe import generate
from killreport.store import migrate, tables
from killreport.store.rows import MODELS, row_of

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
# How long ESI caches each kind (s): a synced copy's Expires are spread over one period.
_TTL: dict[Kind, int] = {"alliance": 3600, "corporation": 3600, "character": 86400}
DELETED_REASON = "Character has been deleted!"
Batch = tuple[Table, list[tuple[Any, ...]]]


class Rows:
    """Turns ESI bodies into complete table rows, with the cache facts a sync would have stored."""

    def __init__(self, now: dt.datetime, seed: int) -> None:
        self.now = now
        self.rng = random.Random(seed)
        self.columns = {t.name: [c.name for c in t.columns] for t in (
            tables.alliances, tables.corporations, tables.characters)}

    def entity(self, kind: Kind, eid: int, body: dict[str, Any]) -> tuple[Any, ...]:
        """The row of one entity: its model's columns, its key, the cache facts of its last fetch."""
        row: dict[str, Any] = row_of(MODELS[kind].model_validate(body))
        expires = self.now + dt.timedelta(seconds=self.rng.uniform(0, _TTL[kind]))
        row |= {"id": eid, "fetched_at": self.now, "expires_at": expires, "etag": etag_of(dumps(body)),
                "last_modified": self.now, "checked_at": self.now}
        if kind == "alliance":
            row |= {f"{tables.MEMBERS_PREFIX}{k}": row[k] for k in
                    ("fetched_at", "expires_at", "etag", "last_modified", "checked_at")}
        if kind != "alliance":
            row[f"{tables.HISTORY_PREFIX}wanted"] = False
        if kind == "character":
            row[tables.DETAIL_WANTED] = False  # no sweep or kill has shown it moving yet
        return tuple(row.get(c) for c in self.columns[tables.ENTITY_TABLES[kind].name])

    def tombstone(self, eid: int) -> tuple[Any, ...]:
        """A deleted character's row."""
        return (eid, self.now, DELETED_REASON)


def eager_batches(rows: Rows, document: dict[str, Any]) -> Iterator[Batch]:
    """The generated universe's truth: what a complete sync of it stores."""
    yield tables.alliances, [rows.entity("alliance", int(a), b) for a, b in document["alliances"].items()]
    members = document["alliance_corporations"]
    yield tables.alliance_corporations, [(int(a), c) for a, corps in members.items() for c in corps]
    yield tables.corporations, [rows.entity("corporation", int(c), b)
                                for c, b in document["corporations"].items()]
    yield tables.characters, [rows.entity("character", int(c), b) for c, b in document["characters"].items()]
    yield tables.character_tombstones, [rows.tombstone(c) for c in document["deleted_characters"]]


def population_batches(rows: Rows, pop: Population, size: int) -> Iterator[Batch]:
    """Every population corporation, then every character (deleted ones as tombstones), `size` at a time."""
    for first in range(0, pop.corporations, size):
        out = []
        for j in range(first, min(first + size, pop.corporations)):
            corp = pop.corporation(CORPORATION_BASE + j)
            if corp is not None:
                out.append(rows.entity("corporation", corp.id, schemas.corporation(corp, 2, True)))
        yield tables.corporations, out
    for first in range(0, pop.characters, size):
        living, deleted = [], []
        for k in range(first, min(first + size, pop.characters)):
            char = pop.character(CHARACTER_BASE + k)
            if char is None:
                continue
            if char.deleted:
                deleted.append(rows.tombstone(char.id))
            else:
                living.append(rows.entity("character", char.id, schemas.character(char, None, 2)))
        yield tables.characters, living
        yield tables.character_tombstones, deleted


def synthetic(args: argparse.Namespace, now: dt.datetime) -> Iterator[Batch]:
    """Every batch of rows of the copy, built as the simulator with these options derives its answers."""
    uni = generate(args.seed, args.alliances, default_deleted(args.alliances),
                   reserved_blocks(args.characters, args.corporations))
    Roster(args.seed, uni)  # as the simulator builds it (it moves the record ids a change hands out)
    pop = Population(args.seed, args.characters, args.corporations, uni)
    rows = Rows(now, args.seed)
    yield from eager_batches(rows, truth(uni))
    yield from population_batches(rows, pop, args.batch)


async def load(batches: Iterator[Batch], write: Callable[[Batch], Any]) -> dict[str, Any]:
    """Feed every batch to `write`, timing the generation and the database apart."""
    counts: dict[str, int] = {}
    generate_s = load_s = 0.0
    began = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        batch = next(batches, None)
        t1 = time.perf_counter()
        generate_s += t1 - t0
        if batch is None:
            break
        if batch[1]:
            result = write(batch)
            if asyncio.iscoroutine(result):
                await result
            counts[batch[0].name] = counts.get(batch[0].name, 0) + len(batch[1])
        load_s += time.perf_counter() - t1
    return {"rows": counts, "generate_s": round(generate_s, 1), "load_s": round(load_s, 1),
            "total_s": round(time.perf_counter() - began, 1)}


async def run_postgresql(args: argparse.Namespace, now: dt.datetime) -> dict[str, Any]:
    """Load into a new PostgreSQL database with COPY; sizes from pg_total_relation_size."""
    name = f"scale_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    if args.database_url is None:
        await admin.execute(f'CREATE DATABASE "{name}"')
    url = args.database_url or PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        conn = await asyncpg.connect(url)
        try:
            async def write(batch: Batch) -> None:
                table, records = batch
                await conn.copy_records_to_table(table.name, records=records,
                                                 columns=[c.name for c in table.columns])

            out = await load(synthetic(args, now), write)
            await conn.execute("VACUUM ANALYZE")
            sizes = {t: await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", t)
                     for t in out["rows"]}
            out |= {"table_bytes": sizes, "data_bytes": sum(sizes.values()),
                    "db_bytes": await conn.fetchval("SELECT pg_database_size(current_database())")}
        finally:
            await conn.close()
    finally:
        if not args.keep and args.database_url is None:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return out


def _sqlite_statement(table: Table) -> tuple[str, list[Callable[[Any], Any] | None]]:
    """The INSERT of every column, positional, and each column's conversion as the store's types do it."""
    dialect = sqlite_dialect.dialect()
    sql = str(table.insert().compile(dialect=dialect))
    return sql, [c.type.dialect_impl(dialect).bind_processor(dialect) for c in table.columns]


async def run_sqlite(args: argparse.Namespace, now: dt.datetime) -> dict[str, Any]:
    """Load into a new SQLite file in one transaction of executemany; size of the file after a checkpoint."""
    given = args.database_url.removeprefix("sqlite:///") if args.database_url else args.sqlite_path
    path = Path(given or f"/tmp/scale_{uuid.uuid4().hex[:8]}.sqlite")
    path.unlink(missing_ok=True)
    await asyncio.to_thread(migrate.upgrade, f"sqlite:///{path}")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    statements = {}

    def write(batch: Batch) -> None:
        table, records = batch
        if table.name not in statements:
            statements[table.name] = _sqlite_statement(table)
        sql, convert = statements[table.name]
        db.executemany(sql, ([v if f is None else f(v) for f, v in zip(convert, r, strict=True)]
                             for r in records))

    try:
        db.execute("BEGIN")
        out = await load(synthetic(args, now), write)
        t0 = time.perf_counter()
        db.execute("COMMIT")
        db.execute("ANALYZE")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        out["load_s"] = round(out["load_s"] + time.perf_counter() - t0, 1)
        out |= {"db_bytes": path.stat().st_size, "data_bytes": path.stat().st_size}
    finally:
        db.close()
        if not args.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    return out


def main() -> None:
    """Parse the options, build the copy, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--characters", type=int, default=1_000_000)
    parser.add_argument("--corporations", type=int, default=50_000)
    parser.add_argument("--alliances", type=int, default=3550)
    parser.add_argument("--dialect", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=50_000, help="rows generated and written at once")
    parser.add_argument("--sqlite-path", help="the SQLite file (default: a new one under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the database or file afterwards")
    parser.add_argument("--database-url", help="an empty database to load into and keep (postgresql:// or "
                        "sqlite:///); default: a new one, dropped afterwards unless --keep")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    args.keep = args.keep or args.database_url is not None
    if args.database_url is not None:
        args.dialect = "sqlite" if args.database_url.startswith("sqlite:///") else "postgresql"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    run = run_postgresql if args.dialect == "postgresql" else run_sqlite
    out = asyncio.run(run(args, now))
    total_rows, millions = sum(out["rows"].values()), max(args.characters / 1e6, 1e-9)
    out |= {"rows_per_s": round(total_rows / max(out["load_s"], 1e-9)),
            "mb_per_million_characters": round(out["data_bytes"] / 2**20 / millions, 1),
            "commit": commit,
            "setup": vars(args)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
