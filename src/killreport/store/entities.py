"""Entity rows' building blocks: idempotent upserts, the cache facts that decide freshness, member
lists, tombstones and failures, and what a read of them says. Each statement is written once, given
the dialect's idioms; store/jobs.py composes them into a job's questions. Nothing is ever deleted
from the copy."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Column,
    Delete,
    FromClause,
    Select,
    Table,
    Text,
    Update,
    bindparam,
    delete,
    exists,
    false,
    select,
    true,
)

from killreport.changes import Change
from killreport.ids import Kind
from killreport.store import references, rows
from killreport.store import tables as t
from killreport.store.dialects import POSTGRES, Idioms
from killreport.store.references import References

TABLES = t.ENTITY_TABLES
_MEMBERS_FETCHED_AT = f"{t.MEMBERS_PREFIX}fetched_at"
_MEMBERS_EXPIRES_AT = f"{t.MEMBERS_PREFIX}expires_at"
_MEMBERS_ETAG = f"{t.MEMBERS_PREFIX}etag"
_HISTORY_EXPIRES_AT = f"{t.HISTORY_PREFIX}expires_at"
_HISTORY_ETAG = f"{t.HISTORY_PREFIX}etag"
HISTORY_WANTED: Final = f"{t.HISTORY_PREFIX}wanted"


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
    history_due: bool = False
    history_etag: str | None = None


# An entity's own answer, an alliance's member list, or a character's or corporation's history.
Resource = Literal["detail", "members", "history"]


def due(kind: Kind, stored: Stored) -> tuple[Resource, ...]:
    """The entity's resources whose Expires has passed, which a job asks ESI for; none once tombstoned.

    A history only while it is wanted: it is not kept fresh, only fetched again when the copy sees
    its entity move."""
    if stored.tombstoned:
        return ()
    wanted: list[Resource] = [] if stored.fresh else ["detail"]
    if kind == "alliance" and not stored.members_fresh:
        wanted.append("members")
    if stored.history_due:
        wanted.append("history")
    return tuple(wanted)


# The field whose change makes a history stale: a character's corporation, a corporation's alliance.
HISTORY_MOVES: Final[Mapping[Kind, str]] = {"character": "corporation_id", "corporation": "alliance_id"}


def moves_history(kind: Kind, noted: Iterable[Change]) -> bool:
    """Whether these changes of an entity move it where its history would say otherwise."""
    field = HISTORY_MOVES.get(kind)
    return any(c.field == field for c in noted)


def _set(table: Table, columns: Iterable[str]) -> dict[str, BindParameter[Any]]:
    """A bound parameter per column, named and typed as the column."""
    return {c: bindparam(c, type_=table.c[c].type) for c in columns}


@functools.cache
def upsert_statement(kind: Kind, columns: tuple[str, ...], sql: Idioms = POSTGRES,
                     first_only: tuple[str, ...] = ()) -> Any:
    """Insert or replace the row :row_id of `kind` with `columns` (parameters named as the columns);
    `first_only` columns are written by the insert and left alone by a replacement."""
    # Built once per shape: constructing ON CONFLICT clauses is most of an upsert's CPU cost.
    # The key is bound as `row_id`: a parameter named like a column (`id`) would join an UPDATE's SET.
    table = TABLES[kind]
    stmt = sql.insert(table).values({"id": bindparam("row_id", type_=BigInteger),
                                     **_set(table, (*columns, *first_only))})
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
        return dataclasses.replace(stored, history_due=bool(row[HISTORY_WANTED]) and not _fresh(
            row[_HISTORY_EXPIRES_AT], now), history_etag=row[_HISTORY_ETAG])
    # Fresh by its Expires alone: an unusable member list leaves one (`defer`) and no list.
    stored = dataclasses.replace(stored, members_fresh=_fresh(row[_MEMBERS_EXPIRES_AT], now))
    if row[_MEMBERS_FETCHED_AT] is None:
        return stored
    return dataclasses.replace(stored, members=(), members_etag=row[_MEMBERS_ETAG])


MEMBERS_OF: Final = select(t.alliance_corporations.c.corporation_id).where(
    t.alliance_corporations.c.alliance_id == bindparam("id", type_=BigInteger))


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


def _members_facts(kind: Kind) -> list[Column[Any]]:
    # What decides whether an alliance's member list is fresh, and its ETag; for the others, whether
    # their history is due, and its ETag.
    if kind != "alliance":
        table = TABLES[kind]
        return [table.c[c] for c in (HISTORY_WANTED, _HISTORY_EXPIRES_AT, _HISTORY_ETAG)]
    return [t.alliances.c[c] for c in (_MEMBERS_FETCHED_AT, _MEMBERS_EXPIRES_AT, _MEMBERS_ETAG)]


def _fresh(expires_at: dt.datetime | None, now: dt.datetime) -> bool:
    return expires_at is not None and expires_at > now


