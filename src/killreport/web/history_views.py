"""What the history and trend parts of the pages and the API show, gathered once for both.

Every id a history names comes back as a link (lookup.names: its name and ticker when the copy
holds it, its page and API addresses), as on the entity pages; times stay datetimes (the API writes
them as ISO 8601 UTC), a snapshot's day an ISO date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Final

from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store.interface import Store
from killreport.store.lookup import Row
from killreport.web.history_params import JOINED_LEFT_DAYS
from killreport.web.links import link
from killreport.web.trend_svg import chart

# Who joins and leaves what: corporations an alliance, characters a corporation.
MEMBER_KIND: Final[dict[Kind, Kind]] = {"alliance": "corporation", "corporation": "character"}


async def _links(store: Store, conn: AsyncConnection, kind: Kind,
                 ids: Iterable[int | None]) -> dict[int, Row]:
    wanted = sorted({i for i in ids if i is not None})
    known = await store.lookup.names(conn, [(kind, i) for i in wanted])
    return {i: named for i in wanted if (named := link(kind, i, known)) is not None}


def trend_body(kind: Kind, entity_id: int, days: int, rows: list[Row]) -> Row:
    """A trend as the API answers it: each day as an ISO date."""
    return {"kind": kind, "id": entity_id, "days": days,
            "items": [{**r, "day": r["day"].isoformat()} for r in rows]}


def trend_section(name: str, days: int, rows: list[Row]) -> Row:
    """A trend as a page shows it: the chart (None without snapshots), the latest day, the rows."""
    label = f"Members of {name} by day, the last {days} days"
    return {"chart": chart(rows, label) if rows else None, "latest": rows[-1] if rows else None,
            "rows": rows, "days": days}


async def character_history(store: Store, conn: AsyncConnection, character_id: int) -> list[Row]:
    """A character's corporations, newest first: corporation (a link), start, end (None: still)."""
    rows = await store.history.character_history(conn, character_id)
    links = await _links(store, conn, "corporation", (r["corporation_id"] for r in rows))
    return [{"corporation": links.get(r["corporation_id"]), "start": r["start"], "end": r["end"]}
            for r in rows]


async def corporation_history(store: Store, conn: AsyncConnection, corporation_id: int) -> list[Row]:
    """A corporation's alliances, newest first: alliance (a link; None outside any), start, end."""
    rows = await store.history.corporation_history(conn, corporation_id)
    links = await _links(store, conn, "alliance", (r["alliance_id"] for r in rows))
    return [{"alliance": None if r["alliance_id"] is None else links.get(r["alliance_id"]),
             "start": r["start"], "end": r["end"]} for r in rows]


async def alliance_members_at(store: Store, conn: AsyncConnection, alliance_id: int,
                              at: dt.datetime) -> list[Row]:
    """The corporations in an alliance at `at`, by id, as links."""
    ids = await store.history.alliance_members_at(conn, alliance_id, at)
    links = await _links(store, conn, "corporation", ids)
    return [links[i] for i in ids if i in links]


async def joined_left(store: Store, conn: AsyncConnection, kind: Kind, entity_id: int, since: dt.datetime,
                      until: dt.datetime) -> list[Row]:
    """Who joined and who left in [since, until), oldest first: member (a link), event, at."""
    rows = await store.history.joined_left(conn, kind, entity_id, since=since, until=until)
    links = await _links(store, conn, MEMBER_KIND[kind], (r["member_id"] for r in rows))
    return [{"member": links.get(r["member_id"]), "event": r["event"], "at": r["at"]} for r in rows]


async def recent_feed(store: Store, conn: AsyncConnection, kind: Kind, entity_id: int) -> Row:
    """Who joined and left over the last 30 days, as a page lists them."""
    until = dt.datetime.now(dt.UTC)
    since = until - dt.timedelta(days=JOINED_LEFT_DAYS)
    return {"days": JOINED_LEFT_DAYS, "items": await joined_left(store, conn, kind, entity_id, since, until)}
