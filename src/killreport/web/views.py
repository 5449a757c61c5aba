"""What each entity page and record shows, gathered once for both the HTML pages and the JSON API."""

from __future__ import annotations

from typing import Final

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store.interface import LookupQueries
from killreport.store.lookup import Page, Row
from killreport.web.links import change_row, link, listed, next_url
from killreport.web.params import Paging

CHANGES_SHOWN: Final = 50
# What made a search result match, by lookup.search's rank.
MATCHES: Final = ("exact_ticker", "exact_name", "prefix", "substring")


async def _changes(q: LookupQueries, conn: AsyncConnection, kind: Kind, entity_id: int,
                   record: Row) -> list[Row]:
    rows = await q.latest_changes(conn, kind=kind, entity_id=entity_id, limit=CHANGES_SHOWN)
    return [change_row(r, {(kind, entity_id): record}) for r in rows]


async def _links(q: LookupQueries, conn: AsyncConnection,
                 wanted: dict[str, tuple[Kind, int | None]]) -> dict[str, Row | None]:
    known = await q.names(conn, [(k, i) for k, i in wanted.values() if i is not None])
    return {name: link(kind, entity_id, known) for name, (kind, entity_id) in wanted.items()}


async def alliance(q: LookupQueries, conn: AsyncConnection, alliance_id: int) -> Row | None:
    """An alliance, its executor, creator corporation and creator, and its latest changes."""
    row = await q.alliance(conn, alliance_id)
    if row is None:
        return None
    links = await _links(q, conn, {"executor_corporation": ("corporation", row["executor_corporation_id"]),
                                "creator_corporation": ("corporation", row["creator_corporation_id"]),
                                "creator": ("character", row["creator_id"])})
    return {"alliance": row, "links": links, "changes": await _changes(q, conn, "alliance", alliance_id, row)}


async def corporation(q: LookupQueries, conn: AsyncConnection, corporation_id: int) -> Row | None:
    """A corporation, its alliance, CEO and creator, and its latest changes."""
    row = await q.corporation(conn, corporation_id)
    if row is None:
        return None
    links = await _links(q, conn, {"alliance": ("alliance", row["alliance_id"]),
                                "ceo": ("character", row["ceo_id"]),
                                "creator": ("character", row["creator_id"])})
    changes = await _changes(q, conn, "corporation", corporation_id, row)
    return {"corporation": row, "links": links, "changes": changes}


async def character(q: LookupQueries, conn: AsyncConnection, character_id: int) -> Row | None:
    """A character, its corporation and alliance, and its latest changes."""
    row = await q.character(conn, character_id)
    if row is None:
        return None
    links = await _links(q, conn, {"corporation": ("corporation", row["corporation_id"]),
                                "alliance": ("alliance", row["alliance_id"])})
    changes = await _changes(q, conn, "character", character_id, row)
    return {"character": row, "links": links, "changes": changes}


def page_body(request: web.Request, kind: Kind, page: Page, paging: Paging) -> Row:
    """A list page as the API answers it: items with their addresses, paging, and the next page's URL."""
    body: Row = {"items": listed(kind, page.items), "page": paging.page, "per_page": paging.per_page,
                 "next": next_url(request, page, paging.page)}
    if page.total is not None:
        body["total"] = page.total
    return body


async def search(q: LookupQueries, conn: AsyncConnection, request: web.Request, text: str,
                 paging: Paging) -> Row:
    """Search results as a list page: each with its kind, id, name, ticker and addresses."""
    found = await q.search(conn, text, offset=paging.offset, limit=paging.per_page)
    items = [_result(r) for r in found.items]
    return {"q": text, "items": items, "page": paging.page, "per_page": paging.per_page,
            "next": next_url(request, found, paging.page)}


def _result(row: Row) -> Row:
    found = link(row["kind"], row["id"], {(row["kind"], row["id"]): row}) or {}
    return {**found, "match": MATCHES[row["rank"]]}


async def recent_changes(q: LookupQueries, conn: AsyncConnection, rows: list[Row]) -> list[Row]:
    """Changes with the names of the entities they are about."""
    known = await q.names(conn, {(r["kind"], r["entity_id"]) for r in rows})
    return [change_row(r, known) for r in rows]
