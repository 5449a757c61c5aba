"""What differs between PostgreSQL's SQL and SQLite's, named once (Prefect's query_components idea).

The statements are written once, in Core (pending.py, entities.py, http_cache.py, schedule.py,
lookup.py, killmails.py, admin.py and the modules they read), and take one of the two `Idioms`
below for the few things the dialects say differently (`of(conn)` picks the connection's):

    clock     the time now: PostgreSQL's clock_timestamp() (moves within a statement) or now()
              (the transaction's start); SQLite's julianday('now') as epoch seconds (holds still
              within a statement, and is the only clock: a statement there never waits half way)
    clock_s   the clock as epoch seconds (a number, for rules computed in Python on the database's time)
    ago       `seconds` before now; `after` is `seconds` after the clock
    age       the seconds from a time to now (an interval's epoch on PostgreSQL, a difference on SQLite)
    minute    the start of now's minute (date_trunc; epoch seconds floored to a multiple of 60);
              `last_minute` the start of the minute before it
    strpos    where a text first occurs in another, from 1 (0: nowhere): strpos, SQLite's instr
    bytewise  text as a b-tree orders it by code point (a construct, also used by tables.py's indexes):
              COLLATE "C" on PostgreSQL, whatever the database's collation; SQLite's BINARY as is
    custom_plans  a statement (or None) after which, in the transaction, each statement is planned
              for its bound values: PostgreSQL's generic plan of a prepared statement (used from its
              sixth run on) cannot know whether a LIKE pattern is common or rare (SET LOCAL
              plan_cache_mode); SQLite plans every statement as it comes
    contains  a search's "this column contains the text" (its LIKE given) served by an index made for
              it: PostgreSQL's trigram GIN indexes serve the LIKE itself; on SQLite the table's FTS5
              trigram index (store/sqlite/tables.py SEARCH) names the candidates, the LIKE decides
    least, greatest   of two times, a NULL skipped (PostgreSQL's least/greatest skip NULLs; SQLite's
              two-argument min/max are NULL if either is)
    ids       an id list bound as one value, as rows: an array unnested, or a JSON array read by
              json_each (an IN list would bind one variable per id, and recompile per length)
    records   rows of named, typed columns bound as one value (a JSON array of objects): read by
              jsonb_to_recordset, or by json_each and json_extract; `record_list` binds them
    insert    the dialect's INSERT with ON CONFLICT (the two have the same methods)
    filtered  a condition the planner should check on the rows found, not look up in an index: SQLite
              picks between two range conditions without knowing their sizes (likely(): "true
              for most rows"); PostgreSQL's statistics know them, so it is the condition itself

What a statement composes differs too: PostgreSQL runs a job's writes as data-modifying CTEs of one
statement (one round trip); SQLite has no DML in a CTE, so store/jobs.py runs the same
building blocks one after another in one transaction (one call on the driver's thread).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    ColumnClause,
    ColumnElement,
    Float,
    FromClause,
    Integer,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    column,
    extract,
    func,
    literal_column,
    select,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import table as sql_table
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.functions import FunctionElement

from killreport.store.sqlite.tables import SEARCH
from killreport.store.sqlite.types import UtcEpoch

# The machine's clock as epoch seconds, read by SQLite (julianday counts days from 4714 BC; its
# 'now' has millisecond precision and holds still within one statement).
_CLOCK: Final = "((julianday('now') - 2440587.5) * 86400.0)"
NOW: Final = literal_column(_CLOCK, UtcEpoch())  # selected, it reads as an aware datetime
NOW_S: Final = literal_column(_CLOCK, Float())  # for arithmetic in seconds
_SECOND: Final[ColumnElement[Any]] = literal_column("interval '1 second'")


class bytewise(FunctionElement[str]):
    """Text ordered and compared by code point, as a b-tree on it orders it.

    A prefix is then a range (tables.py's name indexes serve it) and both dialects sort names alike:
    PostgreSQL's COLLATE "C" (a database's own collation may order by language), SQLite's default.
    """

    type = Text()
    name = "bytewise"
    inherit_cache = True


@compiles(bytewise, "postgresql")
def _bytewise_pg(element: bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return f'{compiler.process(element.clauses, **kw)} COLLATE "C"'


@compiles(bytewise)
def _bytewise_sqlite(element: bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


# eq=False: hashed by identity, as there are two; statements are cached by it on every call.
@dataclass(frozen=True, slots=True, eq=False)
class Idioms:
    """How one dialect says the things the shared statements need (the module's table)."""

    name: str
    now: Callable[[], ColumnElement[Any]]
    clock: Callable[[], ColumnElement[Any]]
    clock_s: Callable[[], ColumnElement[Any]]
    ago: Callable[[ColumnElement[Any]], ColumnElement[Any]]
    after: Callable[[ColumnElement[Any]], ColumnElement[Any]]
    least: Callable[[ColumnElement[Any], ColumnElement[Any]], ColumnElement[Any]]
    greatest: Callable[[ColumnElement[Any], ColumnElement[Any]], ColumnElement[Any]]
    age: Callable[[ColumnElement[Any]], ColumnElement[Any]]
    minute: Callable[[], ColumnElement[Any]]
    last_minute: Callable[[], ColumnElement[Any]]
    strpos: Callable[[ColumnElement[str], ColumnElement[str]], ColumnElement[Any]]
    ids: Callable[[str], ColumnElement[int]]
    id_list: Callable[[Iterable[int]], Any]
    records: Callable[[str, Sequence[ColumnClause[Any]]], FromClause]
    record_list: Callable[[Sequence[Mapping[str, Any]]], Any]
    insert: Callable[[Table], Any]
    contains: Callable[[Table, str, ColumnElement[bool]], ColumnElement[bool]]
    custom_plans: TextClause | None
    filtered: Callable[[ColumnElement[bool]], ColumnElement[bool]]


def _pg_ids(name: str) -> ColumnElement[int]:
    return func.unnest(bindparam(name, type_=ARRAY(BigInteger))).table_valued("id").render_derived("u").c.id


def _sqlite_ids(name: str) -> ColumnElement[int]:
    column: ColumnElement[int] = func.json_each(bindparam(name, type_=Text)).table_valued("value").alias(
        "u").c.value
    return column


def _sqlite_contains(table: Table, searched: str, like: ColumnElement[bool]) -> ColumnElement[bool]:
    index = SEARCH[table.name]
    fts = sql_table(index, column("rowid"), column(searched))
    # The `phrase` bound (lookup.search_values): the text quoted, a quote in it doubled, so that every
    # character is taken literally; the trigram tokenizer matches it anywhere in the column, any case.
    phrase = bindparam("phrase", type_=Text)
    return and_(table.c.id.in_(select(fts.c.rowid).where(fts.c[searched].match(phrase))), like)


def _pg_records(name: str, columns: Sequence[ColumnClause[Any]]) -> FromClause:
    rows: FromClause = func.jsonb_to_recordset(bindparam(name, type_=JSONB)).table_valued(
        *columns).render_derived(name, with_types=True)
    return rows


def _sqlite_records(name: str, columns: Sequence[ColumnClause[Any]]) -> FromClause:
    each = func.json_each(bindparam(name, type_=Text)).table_valued("value")
    return select(*(type_coerce(func.json_extract(each.c.value, f"$.{c.name}"), c.type).label(c.name)
                    for c in columns)).subquery(name)


POSTGRES: Final = Idioms(
    name="postgresql",
    now=lambda: func.now(),
    clock=lambda: func.clock_timestamp(),
    clock_s=lambda: extract("epoch", func.clock_timestamp()),
    ago=lambda seconds: func.now() - _SECOND * seconds,
    after=lambda seconds: func.clock_timestamp() + _SECOND * seconds,
    least=lambda a, b: func.least(a, b),
    greatest=lambda a, b: func.greatest(a, b),
    age=lambda since: extract("epoch", func.now() - since),
    minute=lambda: func.date_trunc("minute", func.now()),
    last_minute=lambda: func.date_trunc("minute", func.now()) - _SECOND * 60,
    strpos=lambda text, part: func.strpos(text, part),
    ids=_pg_ids,
    id_list=lambda values: sorted({int(v) for v in values}),
    records=_pg_records,
    record_list=list,
    insert=pg_insert,
    contains=lambda table, searched, like: like,
    custom_plans=text("SET LOCAL plan_cache_mode = force_custom_plan"),
    filtered=lambda condition: condition,
)
SQLITE: Final = Idioms(
    name="sqlite",
    now=lambda: NOW,
    clock=lambda: NOW,
    clock_s=lambda: NOW_S,
    ago=lambda seconds: NOW_S - seconds,
    after=lambda seconds: NOW_S + seconds,
    least=lambda a, b: func.min(func.coalesce(a, b), func.coalesce(b, a)),
    greatest=lambda a, b: func.max(func.coalesce(a, b), func.coalesce(b, a)),
    age=lambda since: NOW_S - type_coerce(since, Float),
    # Epoch seconds are positive, so CAST truncates down.
    minute=lambda: cast(NOW_S / 60, Integer) * 60.0,
    last_minute=lambda: cast(NOW_S / 60, Integer) * 60.0 - 60.0,
    strpos=lambda text, part: func.instr(text, part),
    ids=_sqlite_ids,
    id_list=lambda values: json.dumps(sorted({int(v) for v in values})),
    records=_sqlite_records,
    record_list=lambda rows: json.dumps(list(rows)),
    insert=sqlite_insert,
    contains=_sqlite_contains,
    custom_plans=None,
    filtered=lambda condition: func.likely(condition, type_=Boolean),
)


def of(conn: AsyncConnection) -> Idioms:
    """The idioms of `conn`'s dialect."""
    return SQLITE if conn.dialect.name == "sqlite" else POSTGRES
