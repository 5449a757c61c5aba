"""KillmailQueries, both stores: the feed's writes (kills, participants, discovery, cursor, holes),
its state, R2Z2's shared pace, the back-fill's days; the reads are store/killmail_reads.py's.

Each statement is written once and given the connection's idioms (store/dialects.py). Writes are
safe beside another writer of the same kills (the follower and a back-fill): a kill's row and its
participants' rows are inserted with ON CONFLICT DO NOTHING, so the first writer's stand, and zkb's
block is replaced only by a newer one (a higher feed number, or any block where there was none).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy import BigInteger, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain.killmail import Kill, Rejected, Zkb
from killreport.ids import KINDS, Kind
from killreport.store import killmail_rows as rows
from killreport.store import pending
from killreport.store import tables as t
from killreport.store.dialects import Idioms, of
from killreport.store.killmail_lease import follow_heartbeat, follow_release, follow_unlock, try_follow_lock
from killreport.store.killmail_progress import (
    BackfillDay,
    FeedState,
    Pace,
    backfill_day,
    backfill_days,
    calm_pace,
    feed_state,
    pace,
    pause_pace,
    reserve_pace,
    restart_from_head,
)
from killreport.store.killmail_reads import export, involving, killmail, recent

__all__ = [
    "BackfillDay", "FeedState", "Pace", "backfill_day", "backfill_days", "calm_pace", "export", "feed_state",
    "fill_hole", "follow_heartbeat", "follow_release", "follow_unlock", "held", "holes", "involving",
    "killmail", "load_cursor", "note_error", "note_head", "pace", "pause_pace", "recent", "record_hole",
    "refresh_zkb", "reserve_pace", "restart_from_head", "save", "try_follow_lock",
]


_k, _p, _f = t.killmails, t.killmail_participants, t.killmail_feed
_KILL_COLUMNS: Final = tuple(c.name for c in _k.columns if c.name != "stored_at")
_ZKB_COLUMNS: Final = (*rows.ZKB_COLUMNS, "zkb_sequence_id")


@functools.cache
def _insert_kill(sql: Idioms) -> Any:
    stmt = sql.insert(_k).values({**{c: bindparam(c, type_=_k.c[c].type) for c in _KILL_COLUMNS},
                                  "stored_at": sql.now()})
    newer = _k.c.location_id.is_(None) | (func.coalesce(_k.c.zkb_sequence_id, -1)
                                          <= func.coalesce(stmt.excluded.zkb_sequence_id, -1))
    return stmt.on_conflict_do_update(
        index_elements=[_k.c.killmail_id],
        set_={c: stmt.excluded[c] for c in _ZKB_COLUMNS}
        | {"sequence_id": func.coalesce(_k.c.sequence_id, stmt.excluded.sequence_id)},
        where=stmt.excluded.location_id.is_not(None) & newer)


@functools.cache
def _insert_participant(sql: Idioms) -> Any:
    stmt = sql.insert(_p).values({c.name: bindparam(c.name, type_=c.type) for c in _p.columns})
    return stmt.on_conflict_do_nothing(index_elements=[_p.c.killmail_id, _p.c.position])


@functools.cache
def _insert_rejected(sql: Idioms) -> Any:
    r = t.killmail_rejected
    names = ("sequence_id", "killmail_id", "hash", "reason", "body")
    bound = {c: bindparam(c, type_=r.c[c].type) for c in names}
    stmt = sql.insert(r).values({**bound, "rejected_at": sql.now()})
    return stmt.on_conflict_do_update(index_elements=[r.c.sequence_id],
                                      set_={c: stmt.excluded[c] for c in (*names[1:], "rejected_at")})


@functools.cache
def _set_feed(sql: Idioms, *columns: str) -> Any:
    """Upsert the feed row's `columns` (bound by name) and its updated_at."""
    values = {c: bindparam(c, type_=_f.c[c].type) for c in columns}
    stmt = sql.insert(_f).values({"id": 1, "updated_at": sql.now(), **values})
    changed = {**{c: stmt.excluded[c] for c in columns}, "updated_at": sql.now()}
    return stmt.on_conflict_do_update(index_elements=[_f.c.id], set_=changed)


async def load_cursor(conn: AsyncConnection) -> int | None:
    """The next feed number to store, or None before the feed's first save."""
    cursor = (await conn.execute(select(_f.c.cursor).where(_f.c.id == 1))).scalar()
    return None if cursor is None else int(cursor)


async def save(conn: AsyncConnection, kills: Sequence[Kill], rejected: Sequence[Rejected] = (),
               cursor: int | None = None) -> dict[Kind, list[int]]:
    """Keep kills and rejected packages, set the cursor, queue the unknown entities they name."""
    sql, chosen = of(conn), rows.one_per_id(kills)
    new = set(await _new_ids(conn, [k.killmail_id for k in chosen]))
    if chosen:
        await conn.execute(_insert_kill(sql), [rows.killmail_row(k) for k in chosen])
    participants = [p for k in chosen if k.killmail_id in new for p in rows.participant_rows(k)]
    if participants:
        await conn.execute(_insert_participant(sql), participants)
    if rejected:
        await conn.execute(_insert_rejected(sql), [
            {"sequence_id": r.sequence_id, "killmail_id": r.killmail_id, "hash": r.hash, "reason": r.reason,
             "body": r.body} for r in rejected])
    if cursor is not None:
        uploaded = max((k.uploaded_at for k in chosen if k.uploaded_at is not None), default=None)
        await _move_cursor(conn, cursor, uploaded)
    await _note_sightings(conn, [k for k in chosen if k.killmail_id in new])
    return await _discover(conn, rows.named(participants))


_co, _ch = t.corporations.c, t.characters.c
# Parameters are not named like columns: a parameter named like a column would join an UPDATE's SET.
_SEEN_AT = bindparam("seen_at", type_=t.TIMESTAMP)
# A stored corporation a kill named: active for REFRESH_KILL_WINDOW_S from the kill's time (an older
# kill, back-filled, moves nothing).
_SEEN: Final = (update(t.corporations)
                .where(_co.id == bindparam("seen_id", type_=BigInteger),
                       (_co[t.SEEN_ON_KILL_AT].is_(None)) | (_co[t.SEEN_ON_KILL_AT] < _SEEN_AT))
                .values({t.SEEN_ON_KILL_AT: _SEEN_AT}))
_PILOT_AT = bindparam("pilot_at", type_=t.TIMESTAMP)
# A stored pilot a kill shows elsewhere than the copy, in a kill after its details were last
# confirmed: its details are wanted (fetched at their Expires, as a sweep's move makes them).
_MOVED: Final = (update(t.characters)
                 .where(_ch.id == bindparam("pilot_id", type_=BigInteger), ~_ch[t.DETAIL_WANTED],
                        t.last_check(t.characters) < _PILOT_AT,
                        (_ch.corporation_id != bindparam("pilot_corporation", type_=BigInteger))
                        | _ch.alliance_id.is_distinct_from(bindparam("pilot_alliance", type_=BigInteger)))
                 .values({t.DETAIL_WANTED: True}))


async def _note_sightings(conn: AsyncConnection, kills: Sequence[Kill]) -> None:
    """Mark the corporations new kills name as seen on a kill, and the pilots they show moved."""
    corporations, pilots = rows.sightings(kills)
    if corporations:
        await conn.execute(_SEEN, corporations)
    if pilots:
        await conn.execute(_MOVED, pilots)


async def _new_ids(conn: AsyncConnection, ids: Sequence[int]) -> list[int]:
    return sorted(set(ids) - await held(conn, ids)) if ids else []


async def _move_cursor(conn: AsyncConnection, cursor: int, uploaded_at: int | None) -> None:
    if uploaded_at is None:
        await conn.execute(_set_feed(of(conn), "cursor"), {"cursor": cursor})
    else:
        await conn.execute(_set_feed(of(conn), "cursor", "uploaded_at"),
                           {"cursor": cursor, "uploaded_at": uploaded_at})


async def _discover(conn: AsyncConnection, named: dict[Kind, list[int]]) -> dict[Kind, list[int]]:
    """Add the named ids the copy neither holds nor has pending, unpublished; those added, by kind."""
    sql, added = of(conn), dict[Kind, list[int]]()
    for kind in KINDS:
        if named.get(kind):
            add = pending.add_statement(kind, skip_fresh=False, published=False, sql=sql, skip_held=True)
            result = await conn.execute(add, {"add_ids": sql.id_list(named[kind])})
            ids: list[Any] = list(result.scalars())
            added[kind] = sorted(int(i) for i in ids)
    return {kind: ids for kind, ids in added.items() if ids}


@functools.cache
def _refresh_statement(sql: Idioms) -> Any:
    values = {c: bindparam(c, type_=_k.c[c].type) for c in _ZKB_COLUMNS}
    return update(_k).where(_k.c.killmail_id == bindparam("kill_id", type_=BigInteger)).values(
        values).returning(_k.c.killmail_id)


async def refresh_zkb(conn: AsyncConnection, killmail_id: int, zkb: Zkb, sequence_id: int) -> bool:
    """Replace a stored kill's zkb block with a republication's; False if the kill is not held."""
    params = {**rows.zkb_row(zkb, sequence_id), "kill_id": killmail_id}
    return (await conn.execute(_refresh_statement(of(conn)), params)).first() is not None


@functools.cache
def _hole_statement(sql: Idioms) -> Any:
    h = t.killmail_holes
    return sql.insert(h).values(sequence_id=bindparam("number", type_=BigInteger),
                                declared_at=sql.now()).on_conflict_do_nothing(index_elements=[h.c.sequence_id])


async def record_hole(conn: AsyncConnection, number: int, cursor: int) -> None:
    """Remember a hole and set the cursor."""
    await conn.execute(_hole_statement(of(conn)), {"number": number})
    await _move_cursor(conn, cursor, None)


async def holes(conn: AsyncConnection, limit: int) -> list[int]:
    """Unfilled holes, oldest number first."""
    h = t.killmail_holes.c
    query = select(h.sequence_id).where(h.filled_at.is_(None)).order_by(h.sequence_id).limit(limit)
    return [int(n) for n in (await conn.execute(query)).scalars()]


async def fill_hole(conn: AsyncConnection, number: int) -> None:
    """A hole's number answered after all."""
    h = t.killmail_holes
    await conn.execute(update(h).where(h.c.sequence_id == number, h.c.filled_at.is_(None))
                       .values(filled_at=of(conn).now()))


async def note_head(conn: AsyncConnection, head: int) -> None:
    """The feed's head pointer as last read."""
    sql = of(conn)
    stmt = sql.insert(_f).values(id=1, head=head, head_seen_at=sql.now(), updated_at=sql.now())
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[_f.c.id], set_={"head": stmt.excluded.head, "head_seen_at": sql.now()}))


async def note_error(conn: AsyncConnection, error: str | None) -> None:
    """The feed's last error (None: it answers again)."""
    sql = of(conn)
    at = None if error is None else sql.now()
    stmt = sql.insert(_f).values(id=1, last_error=error, last_error_at=at, updated_at=sql.now())
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[_f.c.id], set_={"last_error": stmt.excluded.last_error,
                                        "last_error_at": stmt.excluded.last_error_at}))


async def held(conn: AsyncConnection, ids: Iterable[int]) -> set[int]:
    """Which of these killmail ids are stored."""
    sql = of(conn)
    query = select(_k.c.killmail_id).where(_k.c.killmail_id.in_(select(sql.ids("ids"))))
    return {int(i) for i in (await conn.execute(query, {"ids": sql.id_list(ids)})).scalars()}
