"""The kill pages: one kill, an entity's kills or losses (newest first, paged by `before`)."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from killreport.ids import Kind
from killreport.web import kill_views, render
from killreport.web.keys import STORE
from killreport.web.links import PLURAL, link
from killreport.web.params import Problem, parse_before, parse_id

# The list pages' routes: /characters/{id}/kills, /alliances/{id}/losses, ...
LIST_ROUTE: Final = r"/{plural:alliances|corporations|characters}/{id}/{side:kills|losses}"
_KIND_OF: Final[dict[str, Kind]] = {plural: kind for kind, plural in PLURAL.items()}


def no_kill(killmail_id: int) -> Problem:
    """The 404 of a kill the copy does not hold."""
    return Problem(404, f"no killmail {killmail_id} in the copy (yet)")


async def kill_page(request: web.Request) -> web.Response:
    """A kill: victim, attackers (the final blow marked), values, time, system, zkb's labels."""
    killmail_id = parse_id(request.match_info["id"])
    async with request.app[STORE].connect() as conn:
        view = await kill_views.kill(request.app[STORE], conn, killmail_id)
    if view is None:
        raise no_kill(killmail_id)
    return render.page("killmail.html", request, {**view, "title": f"Kill {killmail_id}"})


async def list_page(request: web.Request) -> web.Response:
    """An entity's kills or losses below `before` (from the newest without it), newest first."""
    kind = _KIND_OF[request.match_info["plural"]]
    entity_id = parse_id(request.match_info["id"])
    side = request.match_info["side"]
    before = parse_before(request.query)
    store = request.app[STORE]
    async with store.connect() as conn:
        listing = await kill_views.listing(store, conn, kind, entity_id, side, before, kill_views.LIST_ROWS)
        who = link(kind, entity_id, await store.lookup.names(conn, [(kind, entity_id)]))
    title = f"{side.capitalize()} of {kind} {entity_id}"
    return render.page("kills.html", request, {"title": title, "who": who, "listing": listing,
                                               "before": before})
