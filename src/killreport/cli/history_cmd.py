"""`killreport history ID [--at WHEN]`: who was where, and when, as the copy's fetched histories say.

The id may be a character's, a corporation's or an alliance's: its kind is what the copy holds under
it. Without --at: a character's corporations, a corporation's alliances (its intervals, newest
first), an alliance's joined/left feed. With --at: where a character was then, a corporation's
alliance and its known members then, an alliance's corporations then.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.cli import render
from killreport.cli.errors import UsageError
from killreport.ids import Kind
from killreport.services import database
from killreport.store.interface import Store
from killreport.wiring import load_settings

# Every joined/left event an alliance ever saw: the feed's window when no --at is given.
_EVER: Final = (dt.datetime(2003, 1, 1, tzinfo=dt.UTC), dt.datetime(9999, 1, 1, tzinfo=dt.UTC))


def parse_when(text: str) -> dt.datetime:
    """An ISO 8601 date or time as an aware UTC time (a date: its midnight; no offset: UTC)."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--at {text[:40]!r} is not an ISO 8601 date or time (e.g. 2026-05-03 or "
                         "2026-05-03T12:00:00Z)") from None
    return (when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def parse_id(text: str) -> int:
    """A positive numeric id."""
    try:
        entity_id = int(text)
    except ValueError:
        raise UsageError(f"{text[:40]!r} is not a numeric id") from None
    if entity_id <= 0:
        raise UsageError(f"{entity_id} is not an id (ids are positive)")
    return entity_id


async def history(entity_id: str, *, at: str | None = None, json: bool = False) -> int:
    """Who was where, and when: a character's corporations, a corporation's alliances, an alliance's
    joined/left feed; with --at, the answer at that moment.

    Parameters
    ----------
    entity_id: A character, corporation or alliance id (its kind is what the copy holds).
    at: An ISO 8601 date or time (UTC unless it says otherwise): the answer at that moment.
    json: Print the answer as JSON.
    """
    wanted, when = parse_id(entity_id), None if at is None else parse_when(at)
    async with database(load_settings(), wait=False) as store, store.connect() as conn:
        kind = await kind_of(store, conn, wanted)
        if kind is None:
            Console(stderr=True).print(f"the copy holds no character, corporation or alliance {wanted}",
                                       markup=False, highlight=False)
            return 1
        answer = await (intervals(store, conn, kind, wanted) if when is None
                        else at_moment(store, conn, kind, wanted, when))
    if json:
        print(render.as_json(answer))
    else:
        Console().print(_table(answer))
    return 0


async def kind_of(store: Store, conn: AsyncConnection, entity_id: int) -> Kind | None:
    """What the copy holds under `entity_id` (None: nothing)."""
    if await store.lookup.character(conn, entity_id) is not None:
        return "character"
    if await store.lookup.corporation(conn, entity_id) is not None:
        return "corporation"
    if await store.lookup.alliance(conn, entity_id) is not None:
        return "alliance"
    return None


async def intervals(store: Store, conn: AsyncConnection, kind: Kind, entity_id: int) -> dict[str, Any]:
    """The entity's history without a moment: its stays, newest first, or an alliance's feed."""
    h = store.history
    if kind == "character":
        rows = [_stay(r, "corporation_id") for r in await h.character_history(conn, entity_id)]
    elif kind == "corporation":
        rows = [_stay(r, "alliance_id") for r in await h.corporation_history(conn, entity_id)]
    else:
        rows = [{"corporation_id": r["member_id"], "event": r["event"], "at": r["at"].isoformat()}
                for r in await h.joined_left(conn, "alliance", entity_id, since=_EVER[0], until=_EVER[1])]
    return {"kind": kind, "id": entity_id, "rows": rows}


async def at_moment(store: Store, conn: AsyncConnection, kind: Kind, entity_id: int,
                    when: dt.datetime) -> dict[str, Any]:
    """The point-in-time answer for the entity at `when`."""
    h, out = store.history, {"kind": kind, "id": entity_id, "at": when.isoformat()}
    if kind == "character":
        found = await h.where_at(conn, entity_id, when)
        rows = [] if found is None else [dict(found)]
    elif kind == "corporation":
        stays = [r for r in await h.corporation_history(conn, entity_id)
                 if r["start"] <= when and (r["end"] is None or when < r["end"])]
        rows = [{"alliance_id": r["alliance_id"]} for r in stays]
        rows += [{"character_id": c} for c in await h.corporation_members_at(conn, entity_id, when)]
    else:
        rows = [{"corporation_id": c} for c in await h.alliance_members_at(conn, entity_id, when)]
    return {**out, "rows": rows}


def _stay(row: Any, holder: str) -> dict[str, Any]:
    return {holder: row[holder], "start": row["start"].isoformat(),
            "end": None if row["end"] is None else row["end"].isoformat()}


def _table(answer: dict[str, Any]) -> Table:
    rows: list[dict[str, Any]] = answer["rows"]
    when = f" at {answer['at']}" if "at" in answer else ""
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["(nothing known)"]
    table = Table(*columns, title=f"{answer['kind']} {answer['id']}{when}: {len(rows)} row(s)")
    for r in rows:
        table.add_row(*(render.plain(r.get(c)) for c in columns))
    return table
