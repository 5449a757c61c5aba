"""Reading a statement's plan on both dialects, and the one check every plan test makes of it.

`plan` EXPLAINs the very statement the store runs (PostgreSQL's EXPLAIN, SQLite's EXPLAIN QUERY
PLAN), bound with the values it runs with; nothing is executed, writes included. `assert_indexed`
fails if any table is read whole instead of from an index: PostgreSQL's plan may hold no Seq Scan,
SQLite's no `SCAN <table>` but those of the bound id lists and of what the statement itself built
(a materialized page). Primary keys are named as PostgreSQL names them (`<table>_pkey`) and found
in SQLite's plan under SQLite's names for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, Final

import pytest
from sqlalchemy import Executable, Integer, Table, event
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.store import tables as t
from tests import services
from tests.stores import engine_for, migrated_engine

# Scans of no stored table: a page a statement materialized, the one-row table a claim reads from
# (and any VIRTUAL TABLE: the bound id and record lists, json_each under some alias).
SMALL_SCANS: Final = ("SCAN page", "SCAN u", "SCAN json_each", "SCAN one", "SCAN CONSTANT ROW")


def _sqlite_key(table: Table) -> str:
    """SQLite's name for a table's primary key: the rowid, or the index it makes for any other key."""
    key = list(table.primary_key.columns)
    rowid = len(key) == 1 and isinstance(key[0].type.dialect_impl(_SQLITE), Integer)
    return "INTEGER PRIMARY KEY" if rowid else f"sqlite_autoindex_{table.name}_1"


def _sqlite_dialect() -> Any:
    from sqlalchemy.dialects import sqlite

    return sqlite.dialect()


_SQLITE: Final = _sqlite_dialect()
SQLITE_NAMES: Final[Mapping[str, str]] = {f"{table.name}_pkey": _sqlite_key(table)
                                         for table in t.metadata.tables.values()}


async def explain(conn: AsyncConnection, how: str, statement: Executable,
                  params: Mapping[str, Any] | None = None) -> list[Any]:
    """The rows of `how` (EXPLAIN, EXPLAIN QUERY PLAN) on `statement` bound with `params`.

    The statement goes through SQLAlchemy's execution as the store runs it (values converted, IN
    lists expanded); only the text sent to the driver gets `how` in front of it, and the rows are
    taken from the driver's cursor as they are (no result type reads a plan's line)."""
    rows: list[Any] = []

    def prefixed(_conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any,
                 _many: bool) -> tuple[str, Any]:
        return f"{how} {sql}", parameters

    def taken(_conn: Any, cursor: Any, *_: Any) -> None:
        rows.extend(tuple(row) for row in cursor.fetchall())

    sync = conn.sync_connection
    assert sync is not None
    event.listen(sync, "before_cursor_execute", prefixed, retval=True)
    event.listen(sync, "after_cursor_execute", taken)
    try:
        await conn.execute(statement, dict(params or {}))
    finally:
        event.remove(sync, "before_cursor_execute", prefixed)
        event.remove(sync, "after_cursor_execute", taken)
    return rows


async def plan(conn: AsyncConnection, statement: Executable,
               params: Mapping[str, Any] | None = None) -> list[str]:
    """The plan of `statement` bound with `params`: PostgreSQL's lines, or SQLite's details."""
    if conn.dialect.name == "sqlite":
        return [str(row[3]) for row in await explain(conn, "EXPLAIN QUERY PLAN", statement, params)]
    return [str(row[0]) for row in await explain(conn, "EXPLAIN", statement, params)]


def _depth(line: str) -> int:
    """How deep a plan line's node sits (its arrow's column; the top node's 0)."""
    return line.index("->") if "->" in line else 0


def _stopped_by_limit(lines: list[str], at: int) -> bool:
    """Whether a Limit above the node at `at` stops it, with nothing between that reads all it
    gives first (a Sort, a Hash, an Aggregate: an Incremental Sort reads only one group of ties)."""
    depth = _depth(lines[at])
    for line in reversed(lines[:at]):
        node = line.strip().removeprefix("->").strip()
        if (not line.strip().startswith("->") and line is not lines[0]) or _depth(line) >= depth:
            continue
        depth = _depth(line)
        if node.startswith("Limit"):
            return True
        if node.startswith(("Sort", "Hash", "Aggregate", "HashAggregate", "GroupAggregate", "Materialize")):
            return False
    return False


def _unbounded_walks(lines: list[str]) -> list[str]:
    """PostgreSQL's index scans (bitmap ones too) with no Index Cond that no Limit stops: a walk of
    a whole index (with sequential scans off, what a missing index shows as)."""
    walks = []
    for at, line in enumerate(lines):
        if "Index Scan" not in line and "Index Only Scan" not in line:
            continue
        details = []
        for below in lines[at + 1:]:
            if below.strip().startswith("->"):
                break
            details.append(below)
        if not any("Index Cond:" in d for d in details) and not _stopped_by_limit(lines, at):
            walks.append(line)
    return walks


def whole_reads(lines: list[str], conn: AsyncConnection) -> list[str]:
    """The lines of a plan that read a stored table whole: a sequential scan, or a walk of a whole
    index that nothing bounds (on SQLite, any SCAN of a stored table)."""
    if conn.dialect.name == "postgresql":
        return [line for line in lines if "Seq Scan" in line] + _unbounded_walks(lines)
    return [line for line in lines if line.startswith("SCAN ") and not line.startswith(SMALL_SCANS)
            and "VIRTUAL TABLE" not in line]


def assert_indexed(lines: list[str], conn: AsyncConnection, *indexes: str) -> None:
    """Every table is reached through an index, each of `indexes` among them; none is read whole."""
    shown = "\n".join(lines)
    assert whole_reads(lines, conn) == [], shown
    for index in indexes:
        if conn.dialect.name == "postgresql":
            assert f" using {index} " in shown or f" on {index} " in shown, shown
        else:
            assert SQLITE_NAMES.get(index, index) in shown, shown


def uses(lines: list[str], conn: AsyncConnection, index: str) -> bool:
    """Whether the plan reads `index` (SQLite's name for a primary key found for PostgreSQL's)."""
    shown = "\n".join(lines)
    if conn.dialect.name == "postgresql":
        return f" using {index} " in shown or f" on {index} " in shown
    return SQLITE_NAMES.get(index, index) in shown


def assert_walks(lines: list[str], conn: AsyncConnection, index: str) -> None:
    """The statement walks `index` in its own order until its LIMIT stops it: no sort of what it
    reads (PostgreSQL may sort ties as they come, an Incremental Sort), no other table read whole."""
    shown = "\n".join(lines)
    assert uses(lines, conn, index), shown
    if conn.dialect.name == "postgresql":
        assert whole_reads(lines, conn) == [], shown
        return
    # SQLite names an index walked in order SCAN, whether or not a LIMIT stops it; no TEMP B-TREE
    # means the rows come in the order asked, so the LIMIT does.
    assert not any("TEMP B-TREE" in line for line in lines), shown
    walks = [line for line in lines if line.startswith("SCAN ") and "VIRTUAL TABLE" not in line]
    assert all(" USING " in line and SQLITE_NAMES.get(index, index) in line for line in walks), shown


def volumes(tmp_path_factory: pytest.TempPathFactory, name: str,
            fill: Callable[[AsyncConnection], Awaitable[Any]]) -> Iterator[dict[str, str]]:
    """A PostgreSQL database and a SQLite file each filled by `fill`, by dialect, dropped after: the
    body of a module-scoped fixture, so that a module's plans all read one filled copy."""
    async def filled(url: str) -> None:
        async with migrated_engine(url) as engine, engine.begin() as conn:
            await fill(conn)

    db_name = services.unique_name(f"kr_{name}")
    pg_url = asyncio.run(services.create_database(db_name))
    path = tmp_path_factory.mktemp(name) / "copy.db"
    try:
        asyncio.run(filled(pg_url))
        asyncio.run(filled(f"sqlite:///{path}"))
        yield {"postgresql": pg_url, "sqlite": f"sqlite:///{path}"}
    finally:
        asyncio.run(services.drop_database(db_name))
        shutil.rmtree(path.parent, ignore_errors=True)


@contextlib.asynccontextmanager
async def connected(url: str, *, off: tuple[str, ...] = ()) -> AsyncIterator[AsyncConnection]:
    """A connection to `url`, disposed after; on PostgreSQL with each planner method in `off`
    (`seqscan`, `hashjoin`...) priced out, so that a plan shows whether an index can serve at all."""
    engine = engine_for(url)
    try:
        async with engine.connect() as opened:
            if opened.dialect.name == "postgresql":
                for method in off:
                    await opened.exec_driver_sql(f"SET enable_{method} = off")
            yield opened
    finally:
        await engine.dispose()
