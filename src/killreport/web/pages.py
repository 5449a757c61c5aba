"""The HTML pages: status, one page per alliance, corporation and character, and search (kill pages:
kill_pages.py)."""

from __future__ import annotations

from aiohttp import web

from killreport.ids import Kind
from killreport.web import history_views, kill_views, render, status, views
from killreport.web.history_params import parse_days
from killreport.web.keys import BROKER, BUDGET, STORE
from killreport.web.params import Problem, parse_id, parse_paging, parse_search

# A page lists this many members or characters unless asked otherwise: every member of almost any
# alliance on one page, which is what people look for.
PAGE_ROWS = 1000


def not_found(kind: Kind, entity_id: int) -> Problem:
    """The 404 of an id the copy does not hold."""
    return Problem(404, f"no {kind} {entity_id} in the copy (yet)")


async def status_page(request: web.Request) -> web.Response:
    """The live status page (static/status.js refreshes it from /api/status), and the newest kills."""
    data = await status.gather(request.app[STORE], request.app[BROKER], request.app[BUDGET])
    async with request.app[STORE].connect() as conn:
        kills = await kill_views.recent(request.app[STORE], conn)
    return render.page("status.html", request, {"title": "Status", "s": data, "kills": kills})


async def alliance_page(request: web.Request) -> web.Response:
    """An alliance with its links, members (biggest first), changes, and newest kills and losses."""
    alliance_id = parse_id(request.match_info["id"])
    paging, days = parse_paging(request.query, PAGE_ROWS), parse_days(request.query)
    async with request.app[STORE].connect() as conn:
        view = await views.alliance(request.app[STORE].lookup, conn, alliance_id)
        if view is None:
            raise not_found("alliance", alliance_id)
        members = await request.app[STORE].lookup.alliance_members(conn, alliance_id, offset=paging.offset,
                                                limit=paging.per_page, by_size=True, count=False)
        kills = await kill_views.entity_kills(request.app[STORE], conn, "alliance", alliance_id)
        trend = await request.app[STORE].history.trend(conn, "alliance", alliance_id, days=days)
        feed = await history_views.recent_feed(request.app[STORE], conn, "alliance", alliance_id)
    body = views.page_body(request, "corporation", members, paging)
    name = view["alliance"]["name"]
    return render.page("alliance.html", request, {
        **view, "title": name, "members": body, "kills": kills, "feed": feed,
        "trend": history_views.trend_section(name, days, trend)})


async def corporation_page(request: web.Request) -> web.Response:
    """A corporation with its links, the characters the copy places in it, changes, kills and losses."""
    corporation_id = parse_id(request.match_info["id"])
    paging, days = parse_paging(request.query, PAGE_ROWS), parse_days(request.query)
    async with request.app[STORE].connect() as conn:
        view = await views.corporation(request.app[STORE].lookup, conn, corporation_id)
        if view is None:
            raise not_found("corporation", corporation_id)
        known = await request.app[STORE].lookup.corporation_characters(
            conn, corporation_id, offset=paging.offset, limit=paging.per_page)
        kills = await kill_views.entity_kills(request.app[STORE], conn, "corporation", corporation_id)
        trend = await request.app[STORE].history.trend(conn, "corporation", corporation_id, days=days)
        past = await history_views.corporation_history(request.app[STORE], conn, corporation_id)
        feed = await history_views.recent_feed(request.app[STORE], conn, "corporation", corporation_id)
    body = views.page_body(request, "character", known, paging)
    name = view["corporation"]["name"]
    return render.page("corporation.html", request, {
        **view, "title": name, "characters": body, "kills": kills, "history": past, "feed": feed,
        "trend": history_views.trend_section(name, days, trend)})


async def character_page(request: web.Request) -> web.Response:
    """A character with its corporation, alliance, changes, and newest kills and losses."""
    character_id = parse_id(request.match_info["id"])
    async with request.app[STORE].connect() as conn:
        view = await views.character(request.app[STORE].lookup, conn, character_id)
        if view is None:
            raise not_found("character", character_id)
        kills = await kill_views.entity_kills(request.app[STORE], conn, "character", character_id)
        past = await history_views.character_history(request.app[STORE], conn, character_id)
    return render.page("character.html", request,
                       {**view, "title": view["character"]["name"], "kills": kills, "history": past})


async def search_page(request: web.Request) -> web.Response:
    """Search by name or ticker; an empty query shows the form only."""
    text = parse_search(request.query)
    paging = parse_paging(request.query, 50)
    found = None
    if text is not None:
        async with request.app[STORE].connect() as conn:
            found = await views.search(request.app[STORE].lookup, conn, request, text, paging)
    return render.page("search.html", request, {"title": "Search", "q": text or "", "found": found})
