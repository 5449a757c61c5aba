"""Entity rows: idempotent upserts, the cache facts that decide freshness, the changes a refresh
observed, tombstones and failures. Nothing is ever deleted from the copy."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import (
    CTE,
    BigInteger,
    BindParameter,
    Column,
    ColumnElement,
    Delete,
    FromClause,
    Select,
    Table,
    Text,
    Update,
    bindparam,
    column,
    delete,
    exists,
    false,
    func,
    insert,
    literal_column,
    null,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.changes import Change
from killreport.domain.models import Entity
from killreport.ids import Kind
from killreport.store import pending, references, rows
from killreport.store import tables as t
from killreport.store.dialects import POSTGRES, Idioms
from killreport.store.facts import CacheFacts, Revalidated
from killreport.store.raw import on_driver
from killreport.store.references import References

TABLES = t.ENTITY_TABLES
_MEMBERS_FETCHED_AT = f"{t.MEMBERS_PREFIX}fetched_at"
_MEMBERS_EXPIRES_AT = f"{t.MEMBERS_PREFIX}expires_at"
_MEMBERS_ETAG = f"{t.MEMBERS_PREFIX}etag"
# The member list's cache facts on the alliance row, as CacheFacts.columns names them.
_MEMBERS_FACTS = tuple(CacheFacts(dt.datetime.min, None, None, None).columns(t.MEMBERS_PREFIX))
_JSON_NULL: ColumnElement[Any] = literal_column("'null'::jsonb")


@dataclass(frozen=True, slots=True)
class Stored:
    """What the database holds for one entity: enough to decide what to fetch, compare and queue.

    `row` is the stored copy's model columns (None when nothing is stored), what a new answer is
    compared with; `references` the ids it names (None for a character); `etag` the stored ETag,
    sent as If-None-Match once the copy has expired. For alliances, `members` is the stored member
    list (None while none was ever stored) with its own freshness and ETag.
    """

    fresh: bool
    references: References | None = None
    members: tuple[int, ...] | None = None
    members_fresh: bool = False
    tombstoned: bool = False
    row: Mapping[str, rows.Value] | None = None
    etag: str | None = None
    members_etag: str | None = None


# An entity's own answer, or an alliance's member list.
Resource = Literal["detail", "members"]


def due(kind: Kind, stored: Stored) -> tuple[Resource, ...]:
    """The entity's resources whose Expires has passed, which a job asks ESI for; none once tombstoned."""
    if stored.tombstoned:
        return ()
    wanted: list[Resource] = [] if stored.fresh else ["detail"]
    if kind == "alliance" and not stored.members_fresh:
        wanted.append("members")
    return tuple(wanted)


async def upsert(conn: AsyncConnection, entity_id: int, entity: Entity, facts: CacheFacts) -> None:
    """Insert or replace one entity's row; running it twice leaves the same row."""
    values = {**rows.row_of(entity), **facts.columns()}
    statement = upsert_statement(rows.kind_of(entity), tuple(sorted(values)))
    await conn.execute(statement, {**values, "row_id": entity_id})


def _set(table: Table, columns: Iterable[str]) -> dict[str, BindParameter[Any]]:
    """A bound parameter per column, named and typed as the column."""
    return {c: bindparam(c, type_=table.c[c].type) for c in columns}


@functools.cache
def upsert_statement(kind: Kind, columns: tuple[str, ...], sql: Idioms = POSTGRES) -> Any:
    """Insert or replace the row :row_id of `kind` with `columns` (parameters named as the columns)."""
    # Built once per shape: constructing ON CONFLICT clauses is most of an upsert's CPU cost.
    # The key is bound as `row_id`: a parameter named like a column (`id`) would join an UPDATE's SET.
    table = TABLES[kind]
    stmt = sql.insert(table).values({"id": bindparam("row_id", type_=BigInteger), **_set(table, columns)})
    return stmt.on_conflict_do_update(index_elements=["id"], set_={c: stmt.excluded[c] for c in columns})


@functools.cache
def set_statement(kind: Kind, columns: tuple[str, ...]) -> Update:
    """Set `columns` of the row :row_id of `kind` (parameters named as the columns; any dialect)."""
    table = TABLES[kind]
    row_id = bindparam("row_id", type_=BigInteger)
    return table.update().where(table.c.id == row_id).values(_set(table, columns))


@functools.cache
def defer_statement(kind: Kind, prefix: str, sql: Idioms = POSTGRES) -> Update:
    """Move the row :row_id's Expires to :until unless it is later already (a NULL one gets :until)."""
    table = TABLES[kind]
    column = table.c[f"{prefix}expires_at"]
    until = bindparam("until", type_=t.TIMESTAMP)
    return table.update().where(table.c.id == bindparam("row_id", type_=BigInteger)).values(
        {column.name: sql.greatest(column, until)})


@functools.cache
def members_statements(sql: Idioms = POSTGRES) -> tuple[Delete, Any]:
    """Replace alliance :row_id's member list by :member_ids: the leavers' delete, the joiners' insert.

    Disjoint rows, so PostgreSQL runs both in one statement; the facts are `set_statement`'s."""
    ac = t.alliance_corporations
    alliance_id = bindparam("row_id", type_=BigInteger)
    gone = delete(ac).where(ac.c.alliance_id == alliance_id,
                            ac.c.corporation_id.not_in(select(sql.ids("member_ids"))))
    # WHERE true: SQLite reads `INSERT ... SELECT ... ON CONFLICT` as a join's ON without one.
    joined = sql.insert(ac).from_select(["alliance_id", "corporation_id"], select(
        alliance_id, sql.ids("member_ids")).where(true())).on_conflict_do_nothing()
    return gone, joined


@functools.cache
def tombstone_statement(sql: Idioms = POSTGRES) -> Any:
    """Remember character :row_id as deleted for :reason, observed now (once: a second is ignored)."""
    return sql.insert(t.character_tombstones).values(
        id=bindparam("row_id", type_=BigInteger), deleted_seen_at=sql.now(),
        reason=bindparam("reason", type_=Text)).on_conflict_do_nothing()


_FAILURE_COLUMNS: Final = ("kind", "id", "status", "reason", "attempts", "permanent")


@functools.cache
def record_failure_statement(sql: Idioms = POSTGRES) -> Any:
    """Insert or replace the failure of (:kind, :id), failed now."""
    values = _set(t.sync_failures, _FAILURE_COLUMNS)
    return sql.insert(t.sync_failures).values({**values, "failed_at": sql.now()}).on_conflict_do_update(
        index_elements=["kind", "id"], set_={**values, "failed_at": sql.now()})


async def store(conn: AsyncConnection, entity_id: int, entity: Entity, facts: CacheFacts,
                noted: Sequence[Change] = ()) -> None:
    """`upsert` and append the changes it makes to the stored copy: one statement, so both or none."""
    if not noted:
        await upsert(conn, entity_id, entity, facts)
        return
    columns = {**rows.row_of(entity), **facts.columns()}
    write = _Write("upsert", columns=tuple(sorted(columns)))
    params = {**columns, "row_id": entity_id, **_changes_params(noted)}
    await conn.execute(_statement(rows.kind_of(entity), write, None, finish=False, noted=bool(noted)), params)


async def store_and_finish(
    conn: AsyncConnection, entity_id: int, entity: Entity, facts: CacheFacts,
    children: tuple[Kind, Iterable[int]] | None = None, noted: Sequence[Change] = (),
) -> list[int]:
    """`upsert`, append `noted` changes, `pending.add` the children (as published), finish: one statement.

    Returns the children added. One statement is one transaction, so a crash leaves either all of
    it or none: never a stored entity whose children were not queued or whose changes were lost.
    """
    kind = rows.kind_of(entity)
    columns = {**rows.row_of(entity), **facts.columns()}
    params = {**columns, "row_id": entity_id, "kind": kind, **_children_params(children),
              **_changes_params(noted)}
    write = _Write("upsert", columns=tuple(sorted(columns)))
    statement = _statement(kind, write, children[0] if children else None, finish=True, noted=bool(noted))
    return [r["id"] for r in await _run(conn, statement, params)]


async def revalidate_and_finish(
    conn: AsyncConnection, kind: Kind, entity_id: int, checked: Revalidated,
    children: tuple[Kind, Iterable[int]] | None = None,
) -> list[int]:
    """`revalidate`, `pending.add` the children (as published), finish the entity: one statement."""
    values = checked.columns()
    params = {"row_id": entity_id, "kind": kind, **values, **_children_params(children)}
    child = children[0] if children else None
    write = _Write("set", columns=tuple(sorted(values)))
    statement = _statement(kind, write, child, finish=True, noted=False)
    return [r["id"] for r in await _run(conn, statement, params)]


async def replace_members(
    conn: AsyncConnection, alliance_id: int, members: Iterable[int], facts: CacheFacts,
    noted: Sequence[Change] = (),
) -> None:
    """Store an alliance's member list, its cache facts and its changes in one statement (row must exist)."""
    params = {"row_id": alliance_id, "member_ids": POSTGRES.id_list(members),
              **facts.columns(t.MEMBERS_PREFIX), **_changes_params(noted)}
    statement = _statement("alliance", _Write("members"), None, finish=False, noted=bool(noted))
    await conn.execute(statement, params)


@dataclass(frozen=True, slots=True)
class _Write:
    """What a statement writes to the entity's own rows: an upsert of `columns`, `columns` set on the
    row (a 304's), or an alliance's member list with its facts. Hashable: statements are cached by it."""

    what: Literal["upsert", "set", "members"]
    columns: tuple[str, ...] = ()


@functools.cache
def _statement(kind: Kind, write: _Write, child: Kind | None, *, finish: bool, noted: bool) -> Select[Any]:
    # The composition PostgreSQL allows (dialects.py): one round trip however much a job writes,
    # every building block a data-modifying CTE, which PostgreSQL runs to completion whether or not
    # the main query reads it (bench/sync_all.py measured why). store/jobs.py runs on SQLite the same
    # blocks one after another in one transaction.
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
        return [upsert_statement(kind, write.columns).cte("up")]
    if write.what == "set":
        return [set_statement(kind, write.columns).cte("checked")]
    gone, joined = members_statements()
    return [gone.cte("gone"), joined.cte("joined"), set_statement("alliance", _MEMBERS_FACTS).cte("facts")]


def _changes_cte() -> CTE:
    """Append the :changes rows (a JSON array) to the changes table, observed now.

    PostgreSQL's own: one statement for any number of changes, so it joins a job's other CTEs;
    store/jobs.py's `_lite_record` appends them one parameter set each (executemany)."""
    given = func.jsonb_to_recordset(bindparam("changes", type_=JSONB)).table_valued(
        column("kind", Text), column("entity_id", BigInteger), column("field", Text),
        column("old_value", JSONB), column("new_value", JSONB)).render_derived("given", with_types=True)
    # jsonb_to_recordset turns a JSON null into SQL NULL; store.changes.record stores JSON null.
    old, new = (func.coalesce(c, _JSON_NULL) for c in (given.c.old_value, given.c.new_value))
    rows_ = select(given.c.kind, given.c.entity_id, given.c.field, old, new, func.now())
    columns = ["kind", "entity_id", "field", "old_value", "new_value", "observed_at"]
    return insert(t.changes).from_select(columns, rows_).cte("noted")


def _children_params(children: tuple[Kind, Iterable[int]] | None) -> dict[str, list[int]]:
    return {"add_ids": POSTGRES.id_list(children[1] if children else ())}


def _changes_params(noted: Sequence[Change]) -> dict[str, list[dict[str, Any]]]:
    if not noted:
        return {}
    return {"changes": [{"kind": c.kind, "entity_id": c.entity_id, "field": c.field, "old_value": c.old,
                         "new_value": c.new} for c in noted]}


async def claim_and_read(conn: AsyncConnection, kind: Kind, entity_id: int, ttl_s: float) -> Stored | None:
    """Claim the entity (`pending.claim_statement`) and read it, in one statement.

    None when another worker holds the entity right now.
    """
    params = {"kind": kind, "id": entity_id, "ttl": ttl_s}
    found = await _run(conn, _claim_read_statement(kind), params)
    if not found:
        return None
    stored = await _as_stored(conn, kind, entity_id, found[0])
    if not due(kind, stored):
        return stored
    # Read again before asking ESI: the claim may have waited for a job finishing this entity, and
    # the statement then read with the snapshot from before that job's commit (READ COMMITTED takes
    # one per statement). A stale copy read that way would make this job ask before the Expires the
    # other just stored: tests/integration/test_claim_race.py. Only jobs about to fetch pay for it.
    again = await _run(conn, _read_statement(kind), {"id": entity_id})
    return await _as_stored(conn, kind, entity_id, again[0])


async def _as_stored(conn: AsyncConnection, kind: Kind, entity_id: int, row: Mapping[str, Any]) -> Stored:
    stored = stored_of(kind, row, row["db_now"])
    if stored.members is None:
        return stored
    members = (await conn.execute(MEMBERS_OF, {"id": entity_id})).scalars().all()
    return dataclasses.replace(stored, members=tuple(sorted(members)))


def stored_of(kind: Kind, row: Mapping[str, Any], now: dt.datetime) -> Stored:
    """What `read_from`'s row says, judged at `now` (any dialect).

    An alliance whose member list was ever stored comes back with `members=()`: read them with
    MEMBERS_OF (the caller's connection, its transaction)."""
    if row["tombstoned"]:
        return Stored(fresh=True, tombstoned=True)
    if row["id"] is None:
        return Stored(fresh=False)
    stored = Stored(fresh=_fresh(row["expires_at"], now), references=references.from_row(kind, row),
                    row={s.column: row[s.column] for s in rows.sources(kind)}, etag=row["etag"])
    if kind != "alliance":
        return stored
    # Fresh by its Expires alone: an unusable member list leaves one (`defer`) and no list.
    stored = dataclasses.replace(stored, members_fresh=_fresh(row[_MEMBERS_EXPIRES_AT], now))
    if row[_MEMBERS_FETCHED_AT] is None:
        return stored
    return dataclasses.replace(stored, members=(), members_etag=row[_MEMBERS_ETAG])


MEMBERS_OF: Final = select(t.alliance_corporations.c.corporation_id).where(
    t.alliance_corporations.c.alliance_id == bindparam("id", type_=BigInteger))


@functools.cache
def _claim_read_statement(kind: Kind) -> Select[Any]:
    # The claim's RETURNING row is the single row the read joins from (an outer join, so "not
    # stored" answers too): no claim, no row. The job's first two statements as one round trip
    # (measured in bench/sync_all.py); the stored columns come along for comparing a new answer.
    return read_from(kind, pending.claim_statement().cte("claimed"))


@functools.cache
def _read_statement(kind: Kind) -> Select[Any]:
    # The same read without the claim: one row joined from a constant, as from the claim's.
    return read_from(kind, select(literal_column("1").label("one")).cte("one"))


def read_from(kind: Kind, source: FromClause, sql: Idioms = POSTGRES) -> Select[Any]:
    """Entity :id's stored columns (and whether it is tombstoned), joined from a one-row `source`."""
    table = TABLES[kind]
    entity_id = bindparam("id", type_=BigInteger)
    tombstoned = (
        exists().where(t.character_tombstones.c.id == entity_id) if kind == "character" else false()
    )
    # References are model columns too; dict.fromkeys keeps each column once, in order.
    names = dict.fromkeys([*(s.column for s in rows.sources(kind)),
                           *(c.name for c in references.columns(kind))])
    read = [table.c.id, table.c.expires_at, table.c.etag, *_members_facts(kind), *(table.c[c] for c in names)]
    # The clock (clock_timestamp() on PostgreSQL, the claim's clock too, not now(), the statement's
    # start): a claim held until an Expires is won only once that Expires has passed on the same
    # clock, so the job then fetches.
    return select(sql.clock().label("db_now"), tombstoned.label("tombstoned"), *read).select_from(
        source.outerjoin(table, table.c.id == entity_id))


# The engine's dialect, for compiling the hot statements once (numeric $n parameters, as it would).
_ASYNCPG: Final = asyncpg_dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled once for asyncpg: its SQL, its parameters in $n order with the value
    each takes when not given (literals), and the conversion SQLAlchemy applies to each (JSONB)."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for `params`."""
        values = {**self.defaults, **params}
        pairs = zip(self.names, self.processors, strict=True)
        return [values[n] if p is None else p(values[n]) for n, p in pairs]


@functools.cache
def _compiled(statement: Select[Any]) -> _Compiled:
    # Only ever called with the cached statements above, so each is compiled once per process.
    compiled = statement.compile(dialect=_ASYNCPG)
    names = tuple(compiled.positiontup or ())
    binds = {n: compiled.binds[n] for n in names}
    assert not any(b.expanding or b.literal_execute for b in binds.values()), "not compiled once"
    return _Compiled(
        sql=str(compiled), names=names,
        defaults={n: b.effective_value for n, b in binds.items() if b.value is not None},
        processors=tuple(b.type.dialect_impl(_ASYNCPG).bind_processor(_ASYNCPG) for b in binds.values()))


async def _run(conn: AsyncConnection, statement: Select[Any], params: Mapping[str, Any]) -> Sequence[Any]:
    """Run one of the job's hot statements; its rows (asyncpg Records, read by column name).

    On an autocommit PostgreSQL connection the compiled SQL goes straight to asyncpg: SQLAlchemy's
    execution machinery cost about 110-150 µs of worker CPU per statement on top of asyncpg's own
    (claim_and_read measured both ways), on a job's path of roughly 3 ms. Errors still come out as
    SQLAlchemy's (`DBAPIError` and its kinds; a lost connection invalidated), as callers expect.
    Anywhere else (a transaction SQLAlchemy begins lazily, another driver) it is an ordinary execute.
    """
    if conn.dialect.driver != "asyncpg" or conn.sync_connection is None or \
            conn.sync_connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        found: Sequence[Any] = (await conn.execute(statement, params)).mappings().all()
        return found
    compiled = _compiled(statement)
    return list(await on_driver(conn, compiled.sql, lambda driver: driver.fetch(compiled.sql,
                                                                                *compiled.args(params))))


def _members_facts(kind: Kind) -> list[Column[Any]]:
    # What decides whether an alliance's member list is fresh, and its ETag; only alliances have one.
    if kind != "alliance":
        return []
    return [t.alliances.c[c] for c in (_MEMBERS_FETCHED_AT, _MEMBERS_EXPIRES_AT, _MEMBERS_ETAG)]


def _fresh(expires_at: dt.datetime | None, now: dt.datetime) -> bool:
    return expires_at is not None and expires_at > now


async def tombstone(conn: AsyncConnection, character_id: int, reason: str,
                    noted: Sequence[Change] = ()) -> None:
    """Remember a deleted character so it is never requested again; its stored row is kept. With its
    changes in one statement, so both or none, in a transaction or not."""
    params = {"row_id": character_id, "reason": reason, **_changes_params(noted)}
    if not noted:
        await conn.execute(tombstone_statement(), params)
        return
    await conn.execute(_tombstone_noted(), params)


@functools.cache
def _tombstone_noted() -> Select[Any]:
    ctes = [tombstone_statement().cte("buried"), _changes_cte()]
    return select(null().label("id")).where(false()).add_cte(*ctes)

