"""The JSON API: the pages' data as JSON, lists paged with a stable order and a `next` link."""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

from aiohttp import web

from killreport.web import status, views
from killreport.web.keys import BROKER, BUDGET, STORE
from killreport.web.links import next_url, plain
from killreport.web.pages import not_found
from killreport.web.params import (
    Problem,
    parse_id,
    parse_kind,
    parse_paging,
    parse_search,
    parse_since_param,
    single,
)

_dumps = functools.partial(json.dumps, default=plain, ensure_ascii=False)
ENDPOINTS = ["/api/status", "/api/alliances/{id}", "/api/alliances/{id}/corporations",
             "/api/corporations/{id}", "/api/corporations/{id}/characters", "/api/characters/{id}",
             "/api/search?q=", "/api/changes?since=&kind=&id=", "/api/killmails/{id}",
             "/api/killmails?after=&limit=&character_id=|corporation_id=|alliance_id=",
             "/api/alliances/{id}/trend?days=", "/api/corporations/{id}/trend?days=",
             "/api/characters/{id}/history", "/api/corporations/{id}/history",
             "/api/alliances/{id}/members?at=", "/api/alliances/{id}/joined-left?since=&until=",
             "/api/corporations/{id}/joined-left?since=&until="]


def reply(data: Any, status_code: int = 200) -> web.Response:
    """A JSON answer (times as ISO 8601 UTC)."""
    return web.json_response(data, status=status_code, dumps=_dumps)


async def index(request: web.Request) -> web.Response:
    """What the API offers."""
    return reply({"endpoints": ENDPOINTS})


async def status_json(request: web.Request) -> web.Response:
    """Everything the status page shows."""
    return reply(await status.gather(request.app[STORE], request.app[BROKER], request.app[BUDGET]))


async def alliance(request: web.Request) -> web.Response:
    """One alliance, its links and latest changes; its members are a list of their own."""
    alliance_id = parse_id(request.match_info["id"])
    async with request.app[STORE].connect() as conn:
        view = await views.alliance(request.app[STORE].lookup, conn, alliance_id)
    if view is None:
        raise not_found("alliance", alliance_id)
    return reply({**view, "members": f"/api/alliances/{alliance_id}/corporations"})


async def alliance_corporations(request: web.Request) -> web.Response:
    """An alliance's member corporations by id, paged."""
    alliance_id = parse_id(request.match_info["id"])
    paging = parse_paging(request.query)
    async with request.app[STORE].connect() as conn:
        alliance_row = await request.app[STORE].lookup.alliance(conn, alliance_id)
        if alliance_row is None:
            raise not_found("alliance", alliance_id)
        page = await request.app[STORE].lookup.alliance_members(
            conn, alliance_id, offset=paging.offset, limit=paging.per_page, count=False)
    body = views.page_body(request, "corporation", page, paging)
    return reply({**body, "total": alliance_row["member_corporations"]})


async def corporation(request: web.Request) -> web.Response:
    """One corporation, its links and latest changes."""
    corporation_id = parse_id(request.match_info["id"])
    async with request.app[STORE].connect() as conn:
        view = await views.corporation(request.app[STORE].lookup, conn, corporation_id)
    if view is None:
        raise not_found("corporation", corporation_id)
    return reply({**view, "characters": f"/api/corporations/{corporation_id}/characters"})


async def corporation_characters(request: web.Request) -> web.Response:
    """The characters the copy places in a corporation, by id, paged."""
    corporation_id = parse_id(request.match_info["id"])
    paging = parse_paging(request.query)
    async with request.app[STORE].connect() as conn:
        if await request.app[STORE].lookup.corporation(conn, corporation_id) is None:
            raise not_found("corporation", corporation_id)
        page = await request.app[STORE].lookup.corporation_characters(
            conn, corporation_id, offset=paging.offset, limit=paging.per_page)
    return reply(views.page_body(request, "character", page, paging))


async def character(request: web.Request) -> web.Response:
    """One character, its corporation and alliance, and latest changes."""
    character_id = parse_id(request.match_info["id"])
    async with request.app[STORE].connect() as conn:
        view = await views.character(request.app[STORE].lookup, conn, character_id)
    if view is None:
        raise not_found("character", character_id)
    return reply(view)


async def search(request: web.Request) -> web.Response:
    """Entities whose name or ticker contains `q` (any case), exact tickers first, paged."""
    text = parse_search(request.query)
    if text is None:
        raise Problem(400, "q is required: a name or ticker to look for")
    paging = parse_paging(request.query, 50)
    async with request.app[STORE].connect() as conn:
        return reply(await views.search(request.app[STORE].lookup, conn, request, text, paging))


async def changes(request: web.Request) -> web.Response:
    """Recorded changes in the order they were observed, filtered by `since`, `kind` and `id`, paged."""
    since = parse_since_param(request.query, dt.datetime.now(dt.UTC))
    kind = parse_kind(request.query)
    raw_id = single(request.query, "id")
    entity_id = None if raw_id is None else parse_id(raw_id)
    paging = parse_paging(request.query)
    async with request.app[STORE].connect() as conn:
        page = await request.app[STORE].lookup.changes_page(conn, since=since, kind=kind, entity_id=entity_id,
                                         offset=paging.offset, limit=paging.per_page)
        items = await views.recent_changes(request.app[STORE].lookup, conn, page.items)
    return reply({"items": items, "page": paging.page, "per_page": paging.per_page,
                  "next": next_url(request, page, paging.page)})
