"""JobQueries, both stores: a job's questions, each statement written once and composed as the
dialect allows.

The statements are entities.py's, pending.py's and http_cache.py's building blocks, given the
dialect's idioms (store/dialects.py names the differences). A question that is one statement is
answered here for both dialects alike; one that writes several tables is composed differently:

    PostgreSQL  one statement of data-modifying CTEs, one round trip (`_statement` composes them;
                the hot ones go straight to asyncpg, compiled once: store/raw.py's `run`)
    SQLite      no DML in a CTE, so the same blocks run one after another in one transaction, in
                one call on the driver's thread (the `work` of each function, `_lite_*` helpers)

Each question is one function below, both compositions side by side.

On SQLite every statement runs through store/sqlite/fast.py: compiled once, executed by sqlite3
without SQLAlchemy's execution (43 % of the embedded runner's CPU went there). Its transactions are
BEGIN IMMEDIATE on the job's autocommit connection, committed at the end, rolled back if any part
fails, all in one call. IMMEDIATE takes the file's write lock before the first statement (the
driver waits for it on its thread), so a transaction never fails half way because another process
wrote first (a deferred one could). A claim and its read are one such transaction too.

Time on SQLite: its `julianday('now')` as epoch seconds (dialects.NOW), read in each
statement, not Python's time bound as a parameter: a statement that waited for the write lock
then judges claims and freshness at the moment it runs, as PostgreSQL's clock_timestamp() does,
and every module on the file shares one clock expression. 'now' holds still within one statement,
so a claim and the time it returns (for judging freshness) are the same instant.

Id lists reach SQL as one JSON array read by json_each (PostgreSQL's arrays' counterpart).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Select,
    Text,
    bindparam,
    column,
    false,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from killreport.changes import Change
from killreport.domain.models import Entity
from killreport.ids import Kind
from killreport.store import changes, entities, http_cache, pending, rows
from killreport.store import tables as t
from killreport.store.dialects import POSTGRES, SQLITE, of
from killreport.store.entities import HISTORY_WANTED, MEMBERS_OF, Stored, due, stored_of
from killreport.store.facts import CacheFacts, Revalidated
from killreport.store.history_rows import revalidate_history, store_history
from killreport.store.raw import run
from killreport.store.references import referenced_ids
from killreport.store.sqlite import fast
from killreport.store.sqlite import fetch_lock as sqlite_fetch_lock

__all__ = [
    "add", "among", "claim_and_read", "defer", "fetch_lock", "finish", "forget_unclaimed", "fresh_ids",
    "mark_published", "put_ids", "record_failure", "referenced_ids", "release", "replace_members",
    "revalidate", "revalidate_and_finish", "revalidate_history", "store", "store_and_finish", "store_history",
    "tombstone", "unpublished",
]

Row = Mapping[str, Any]
Children = tuple[Kind, Iterable[int]] | None
# The member list's cache facts on the alliance row, as CacheFacts.columns names them.
_MEMBERS_FACTS: Final = tuple(CacheFacts(dt.datetime.min, None, None, None).columns(t.MEMBERS_PREFIX))
_JSON_NULL: Final[ColumnElement[Any]] = literal_column("'null'::jsonb")


def _lite(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "sqlite"


async def _write(conn: AsyncConnection, statement: Any, params: Mapping[str, Any]) -> int:
    """Run one writing statement (a transaction of its own on SQLite); how many rows it changed."""
    if _lite(conn):
        return await fast.transact(conn, lambda tx: tx.execute(statement, params))
    return int((await conn.execute(statement, params)).rowcount or 0)


async def _returning(conn: AsyncConnection, statement: Any, params: Mapping[str, Any]) -> list[Row]:
    """Run one writing statement; the rows it returns."""
    if _lite(conn):
        return list(await fast.transact(conn, lambda tx: tx.rows(statement, params)))
    return [dict(r) for r in (await conn.execute(statement, params)).mappings()]


async def _select(conn: AsyncConnection, statement: Any, params: Mapping[str, Any]) -> list[Row]:
    """Run one reading statement; its rows."""
    if _lite(conn):
        return list(await fast.read(conn, lambda tx: tx.rows(statement, params)))
    return [dict(r) for r in (await conn.execute(statement, params)).mappings()]


# ---- claim and read --------------------------------------------------------------------------------

async def claim_and_read(conn: AsyncConnection, kind: Kind, entity_id: int, ttl_s: float) -> Stored | None:
    """Claim the entity for `ttl_s` and read what is stored; None if another claim holds it."""
    if _lite(conn):
        return await fast.transact(conn, lambda tx: _lite_claim_and_read(tx, kind, entity_id, ttl_s))
    # The claim and the read in one statement (one round trip).
    found = await run(conn, _claim_read_statement(kind), {"kind": kind, "id": entity_id, "ttl": ttl_s})
    if not found:
        return None
    stored = await _as_stored(conn, kind, entity_id, found[0])
    if not due(kind, stored):
        return stored
    # Read again before asking ESI: the claim may have waited for a job finishing this entity, and
    # the statement then read with the snapshot from before that job's commit (READ COMMITTED takes
    # one per statement). A stale copy read that way would make this job ask before the Expires the
    # other just stored: tests/integration/test_claim_race.py. Only jobs about to fetch pay for it.
    again = await run(conn, _read_statement(kind), {"id": entity_id})
    return await _as_stored(conn, kind, entity_id, again[0])


def _lite_claim_and_read(tx: fast.Tx, kind: Kind, entity_id: int, ttl_s: float) -> Stored | None:
    claim = tx.rows(pending.claim_statement(SQLITE), {"kind": kind, "id": entity_id, "ttl": ttl_s})
    if not claim:
        return None
    # Judged at the claim's instant: the read is another statement, a moment later.
    stored = stored_of(kind, tx.rows(_lite_read(kind), {"id": entity_id})[0], claim[0]["db_now"])
    if stored.members is None:
        return stored
    members = sorted(r["corporation_id"] for r in tx.rows(MEMBERS_OF, {"id": entity_id}))
    return dataclasses.replace(stored, members=tuple(members))


async def _as_stored(conn: AsyncConnection, kind: Kind, entity_id: int, row: Mapping[str, Any]) -> Stored:
    stored = stored_of(kind, row, row["db_now"])
    if stored.members is None:
        return stored
    members = (await conn.execute(MEMBERS_OF, {"id": entity_id})).scalars().all()
    return dataclasses.replace(stored, members=tuple(sorted(members)))


@functools.cache
def _claim_read_statement(kind: Kind) -> Select[Any]:
    # The claim's RETURNING row is the single row the read joins from (an outer join, so "not
    # stored" answers too): no claim, no row. The job's first two statements as one round trip
    # (measured in bench/sync_all.py); the stored columns come along for comparing a new answer.
    return entities.read_from(kind, pending.claim_statement().cte("claimed"))


@functools.cache
def _read_statement(kind: Kind) -> Select[Any]:
    # The same read without the claim: one row joined from a constant, as from the claim's.
    return entities.read_from(kind, select(literal_column("1").label("one")).cte("one"))


@functools.cache
def _lite_read(kind: Kind) -> Select[Any]:
    # One row whether or not the entity is stored (an outer join from a one-row select), as the
    # PostgreSQL statement reads from its claim's row: "not stored" and "tombstoned" answer too.
    return entities.read_from(kind, select(literal(1).label("one")).subquery("one"), SQLITE)


# ---- writing the copy ------------------------------------------------------------------------------

async def store(conn: AsyncConnection, entity_id: int, entity: Entity, facts: CacheFacts,
                noted: Sequence[Change] = ()) -> None:
    """Upsert the entity's row (running it twice leaves the same row) and append `noted` changes,
    atomically."""
    kind, (names, first, params) = rows.kind_of(entity), _upsert_params(entity_id, entity, facts, noted)
    if _lite(conn):
        def work(tx: fast.Tx) -> None:
            tx.execute(entities.upsert_statement(kind, names, SQLITE, first), params)
            _lite_record(tx, noted)

        return await fast.transact(conn, work)
    # With changes: one statement, so both or none.
    statement = (_statement(kind, _Write("upsert", names, first), None, finish=False, noted=True) if noted
                 else entities.upsert_statement(kind, names, POSTGRES, first))
    await conn.execute(statement, {**params, **_changes_params(noted)})


async def store_and_finish(conn: AsyncConnection, entity_id: int, entity: Entity, facts: CacheFacts,
                           children: Children = None, noted: Sequence[Change] = ()) -> list[int]:
    """`store`, add the children to the pending set (as published), finish: atomically.

    Returns the children this call added. A crash leaves either all of it or none: never a stored
    entity whose children were not queued or whose changes were lost."""
    kind, (names, first, params) = rows.kind_of(entity), _upsert_params(entity_id, entity, facts, noted)
    if _lite(conn):
        def work(tx: fast.Tx) -> list[int]:
            tx.execute(entities.upsert_statement(kind, names, SQLITE, first), params)
            _lite_record(tx, noted)
            added = _lite_add_children(tx, children)
            _lite_finish(tx, kind, entity_id, stored=True)
            return added

        return await fast.transact(conn, work)
    statement = _statement(kind, _Write("upsert", names, first), children[0] if children else None,
                           finish=True, noted=bool(noted))
    every = {**params, "kind": kind, **_children_params(children), **_changes_params(noted)}
    return [r["id"] for r in await run(conn, statement, every)]


def _upsert_params(entity_id: int, entity: Entity, facts: CacheFacts,
                   noted: Sequence[Change]) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, Any]]:
    """An upsert's replaced columns, its insert-only ones, and its parameters.

    A character's or corporation's history is wanted when it is first stored (an insert-only
    column) and again when this answer moved it (entities.moved_history: then a replaced one)."""
    kind, columns = rows.kind_of(entity), {**rows.row_of(entity), **facts.columns()}
    first: tuple[str, ...] = ()
    columns = _detail_confirmed(kind, columns)
    if kind != "alliance":
        columns[HISTORY_WANTED] = True
        first = () if entities.moves_history(kind, noted) else (HISTORY_WANTED,)
    names = tuple(sorted(c for c in columns if c not in first))
    return names, first, {**columns, "row_id": entity_id}


def _detail_confirmed(kind: Kind, columns: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`columns` of an answer (200 or 304), and for a character's details: no longer wanted (a move a
    sweep or a kill showed is what this answer confirms)."""
    return {**columns, t.DETAIL_WANTED: False} if kind == "character" and not prefix else columns


async def revalidate(conn: AsyncConnection, kind: Kind, entity_id: int, checked: Revalidated,
                     prefix: str = "") -> None:
    """A 304 (with `members_` or `history_`: for that resource): move Expires and checked time."""
    values = _detail_confirmed(kind, checked.columns(prefix), prefix)
    await _write(conn, entities.set_statement(kind, tuple(sorted(values))), {**values, "row_id": entity_id})


async def revalidate_and_finish(conn: AsyncConnection, kind: Kind, entity_id: int, checked: Revalidated,
                                children: Children = None) -> list[int]:
    """`revalidate`, add the children (as published), finish, atomically; returns those added."""
    values = _detail_confirmed(kind, checked.columns())
    if _lite(conn):
        def work(tx: fast.Tx) -> list[int]:
            _lite_set(tx, kind, entity_id, values)
            added = _lite_add_children(tx, children)
            _lite_finish(tx, kind, entity_id, stored=True)
            return added

        return await fast.transact(conn, work)
    params = {"row_id": entity_id, "kind": kind, **values, **_children_params(children)}
    statement = _statement(kind, _Write("set", tuple(sorted(values))), children[0] if children else None,
                           finish=True, noted=False)
    return [r["id"] for r in await run(conn, statement, params)]


def _lite_set(tx: fast.Tx, kind: Kind, entity_id: int, values: dict[str, Any]) -> None:
    tx.execute(entities.set_statement(kind, tuple(sorted(values))), {**values, "row_id": entity_id})


def _lite_add_children(tx: fast.Tx, children: Children) -> list[int]:
    if children is None:
        return []
    statement = pending.add_statement(children[0], skip_fresh=True, published=True, sql=SQLITE)
    return [int(r["id"]) for r in tx.rows(statement, {"add_ids": SQLITE.id_list(children[1])})]


def _lite_record(tx: fast.Tx, noted: Sequence[Change]) -> None:
    """Append changes, observed now, inside a transaction of store/sqlite/fast.py (one executemany)."""
    if noted:
        tx.many(changes.record_statement(SQLITE), changes.record_params(noted))


async def defer(conn: AsyncConnection, kind: Kind, entity_id: int, until: dt.datetime,
                prefix: str = "") -> None:
    """Not before `until` (an unusable answer's Expires); the copy is untouched."""
    statement = entities.defer_statement(kind, prefix, of(conn))
    await _write(conn, statement, {"row_id": entity_id, "until": until})


async def replace_members(conn: AsyncConnection, alliance_id: int, members: Iterable[int],
                          facts: CacheFacts, noted: Sequence[Change] = ()) -> None:
    """Store an alliance's member list, its cache facts and its changes, atomically (row must exist)."""
    sql = of(conn)
    params = {"row_id": alliance_id, "member_ids": sql.id_list(members)}
    if _lite(conn):
        gone, joined = entities.members_statements(SQLITE)

        def work(tx: fast.Tx) -> None:
            tx.execute(gone, params)
            tx.execute(joined, params)
            _lite_set(tx, "alliance", alliance_id, facts.columns(t.MEMBERS_PREFIX))
            _lite_record(tx, noted)

        return await fast.transact(conn, work)
    statement = _statement("alliance", _Write("members"), None, finish=False, noted=bool(noted))
    await conn.execute(statement, {**params, **facts.columns(t.MEMBERS_PREFIX), **_changes_params(noted)})


async def tombstone(conn: AsyncConnection, character_id: int, reason: str,
                    noted: Sequence[Change] = ()) -> None:
    """Record a character as deleted so it is never requested again (its row stays), with its changes,
    atomically."""
    params = {"row_id": character_id, "reason": reason}
    if _lite(conn):
        def work(tx: fast.Tx) -> None:
            tx.execute(entities.tombstone_statement(SQLITE), params)
            _lite_record(tx, noted)

        return await fast.transact(conn, work)
    statement = _tombstone_noted() if noted else entities.tombstone_statement()
    await conn.execute(statement, {**params, **_changes_params(noted)})


# ---- PostgreSQL's composition: one statement of data-modifying CTEs ------------------------------------

@dataclass(frozen=True, slots=True)
class _Write:
    """What a statement writes to the entity's own rows: an upsert of `columns`, `columns` set on the
    row (a 304's), or an alliance's member list with its facts. Hashable: statements are cached by it."""

    what: Literal["upsert", "set", "members"]
    columns: tuple[str, ...] = ()
    first_only: tuple[str, ...] = ()  # an upsert's insert-only columns


@functools.cache
def _statement(kind: Kind, write: _Write, child: Kind | None, *, finish: bool, noted: bool) -> Select[Any]:
    # One round trip however much a job writes, every building block a data-modifying CTE, which
    # PostgreSQL runs to completion whether or not the main query reads it (bench/sync_all.py
    # measured why). SQLite runs the same blocks one after another in one transaction.
    ctes = _write_ctes(kind, write)
    if noted:
        ctes.append(_changes_cte())
    if finish:
        ctes += [pending.done_statement(t.sync_failures).cte("failed"),
                 pending.done_statement(t.sync_pending).cte("done")]
    if child is None:
        return select(null().label("id")).where(false()).add_cte(*ctes)
    added = pending.add_statement(child, skip_fresh=True, published=True).cte("added")
    return select(added.c.id).add_cte(*ctes)


def _write_ctes(kind: Kind, write: _Write) -> list[CTE]:
    if write.what == "upsert":
        return [entities.upsert_statement(kind, write.columns, POSTGRES, write.first_only).cte("up")]
    if write.what == "set":
        return [entities.set_statement(kind, write.columns).cte("checked")]
    gone, joined = entities.members_statements()
    return [gone.cte("gone"), joined.cte("joined"),
            entities.set_statement("alliance", _MEMBERS_FACTS).cte("facts")]


@functools.cache
def _tombstone_noted() -> Select[Any]:
    ctes = [entities.tombstone_statement().cte("buried"), _changes_cte()]
    return select(null().label("id")).where(false()).add_cte(*ctes)


def _changes_cte() -> CTE:
    """Append the :changes rows (a JSON array) to the changes table, observed now.

    PostgreSQL's own: one statement for any number of changes, so it joins a job's other CTEs;
    SQLite's `_lite_record` appends them one parameter set each (executemany)."""
    given = func.jsonb_to_recordset(bindparam("changes", type_=JSONB)).table_valued(
        column("kind", Text), column("entity_id", BigInteger), column("field", Text),
        column("old_value", JSONB), column("new_value", JSONB)).render_derived("given", with_types=True)
    # jsonb_to_recordset turns a JSON null into SQL NULL; store.changes.record stores JSON null.
    old, new = (func.coalesce(c, _JSON_NULL) for c in (given.c.old_value, given.c.new_value))
    rows_ = select(given.c.kind, given.c.entity_id, given.c.field, old, new, func.now())
    columns = ["kind", "entity_id", "field", "old_value", "new_value", "observed_at"]
    return insert(t.changes).from_select(columns, rows_).cte("noted")


def _children_params(children: Children) -> dict[str, list[int]]:
    return {"add_ids": POSTGRES.id_list(children[1] if children else ())}


def _changes_params(noted: Sequence[Change]) -> dict[str, list[dict[str, Any]]]:
    if not noted:
        return {}
    return {"changes": [{"kind": c.kind, "entity_id": c.entity_id, "field": c.field, "old_value": c.old,
                         "new_value": c.new} for c in noted]}


async def record_failure(conn: AsyncConnection, kind: Kind, entity_id: int, *, status: int | None,
                         reason: str, attempts: int, permanent: bool) -> None:
    """Record why an entity could not be stored (the latest failure wins)."""
    await _write(conn, entities.record_failure_statement(of(conn)), {
        "kind": kind, "id": entity_id, "status": status, "reason": reason, "attempts": attempts,
        "permanent": permanent})


# ---- the pending set -------------------------------------------------------------------------------

async def release(conn: AsyncConnection, kind: Kind, entity_id: int, attempts: int,
                  hold_until: dt.datetime | None = None) -> None:
    """Give the claim back (it waits in a retry queue), remembering how often it was tried.

    `hold_until` keeps it claimed until then: a first sighting whose answer was unusable has no row
    to keep that answer's Expires in, and no job may ask for it again before that.
    """
    await _write(conn, pending.release_statement(),
                 {"of_kind": kind, "row_id": entity_id, "tries": attempts, "hold": hold_until})


def _lite_finish(tx: fast.Tx, kind: Kind, entity_id: int, *, stored: bool) -> None:
    params = {"kind": kind, "row_id": entity_id}
    if stored:
        tx.execute(pending.done_statement(t.sync_failures), params)
    tx.execute(pending.done_statement(t.sync_pending), params)


async def finish(conn: AsyncConnection, kind: Kind, entity_id: int, *, stored: bool = False) -> None:
    """The entity is done (stored, tombstoned or recorded as failed); `stored` clears old failures."""
    if _lite(conn):
        return await fast.transact(conn, lambda tx: _lite_finish(tx, kind, entity_id, stored=stored))
    params = {"kind": kind, "row_id": entity_id}
    if not stored:
        await conn.execute(pending.done_statement(t.sync_pending), params)
        return
    # One round trip for both deletes: this is on every job's path.
    failed = pending.done_statement(t.sync_failures).cte("failed")
    await conn.execute(pending.done_statement(t.sync_pending).add_cte(failed), params)


async def add(conn: AsyncConnection, kind: Kind, ids: Iterable[int], *, skip_fresh: bool,
              published: bool = False) -> list[int]:
    """Add ids not yet pending (skipping fresh ones if asked); return those newly added."""
    sql = of(conn)
    statement = pending.add_statement(kind, skip_fresh=skip_fresh, published=published, sql=sql)
    return [int(r["id"]) for r in await _returning(conn, statement, {"add_ids": sql.id_list(ids)})]


async def among(conn: AsyncConnection, kind: Kind, ids: Iterable[int]) -> list[int]:
    """Which of `ids` are pending."""
    sql = of(conn)
    found = await _select(conn, pending.among_statement(sql), {"kind": kind, "ids": sql.id_list(ids)})
    return [int(r["id"]) for r in found]


async def unpublished(conn: AsyncConnection, kind: Kind, ids: Iterable[int] | None = None, *,
                      older_than_s: float = 0.0, limit: int = 10_000) -> list[int]:
    """Pending ids of `kind` whose message was never confirmed (among `ids`, if given)."""
    sql = of(conn)
    params = {"kind": kind, "age": older_than_s, "limit": limit, "ids": sql.id_list(ids or ())}
    found = await _select(conn, pending.unpublished_statement(ids is not None, sql), params)
    return [int(r["id"]) for r in found]


async def mark_published(conn: AsyncConnection, kind: Kind, ids: Sequence[int]) -> None:
    """Record that the queue confirmed these messages."""
    sql = of(conn)
    await _write(conn, pending.mark_published_statement(sql), {"of_kind": kind, "ids": sql.id_list(ids)})


async def forget_unclaimed(conn: AsyncConnection) -> int:
    """Drop pending rows nobody is working on (their messages were just purged)."""
    return await _write(conn, pending.forget_unclaimed_statement(of(conn)), {})


# ---- cached lists ----------------------------------------------------------------------------------

async def fresh_ids(conn: AsyncConnection, path: str) -> list[int] | None:
    """The cached id list of `path` while ESI says it is current, else None."""
    found = await _select(conn, http_cache.fresh_statement(of(conn)), {"path": path})
    return list(found[0]["body"]) if found else None


async def put_ids(conn: AsyncConnection, path: str, ids: list[int], facts: CacheFacts) -> None:
    """Store the id list of `path` with its cache facts, replacing the earlier copy."""
    params = {"path": path, "body": ids, **facts.columns()}
    await _write(conn, http_cache.put_statement(of(conn)), params)


@asynccontextmanager
async def fetch_lock(engine: AsyncEngine, path: str) -> AsyncIterator[None]:
    """No other process fetches `path` while the block runs (it waits for its turn first)."""
    # Different means, one promise: a transaction's advisory lock on PostgreSQL, a flock beside the
    # SQLite file (store/sqlite/fetch_lock.py says why not a row).
    lock = sqlite_fetch_lock.fetch_lock if engine.dialect.name == "sqlite" else http_cache.fetch_lock
    async with lock(engine, path):
        yield
