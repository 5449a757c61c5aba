"""The kills as JSON: one kill in ESI's shape plus `zkb`, and every stored kill in id order for export."""

from __future__ import annotations

from aiohttp import web

from killreport.web.api import reply
from killreport.web.keys import STORE
from killreport.web.kill_pages import no_kill
from killreport.web.params import parse_export, parse_id


async def killmail(request: web.Request) -> web.Response:
    """GET /api/killmails/{id}: ESI's killmail body plus `zkb` (R2Z2's block, or null)."""
    killmail_id = parse_id(request.match_info["id"])
    async with request.app[STORE].connect() as conn:
        body = await request.app[STORE].killmails.killmail(conn, killmail_id)
    if body is None:
        raise no_kill(killmail_id)
    return reply(body)


async def killmails(request: web.Request) -> web.Response:
    """GET /api/killmails?after=&limit=: stored kills with ids above `after`, ascending, each as
    /api/killmails/{id} gives it, only those naming `character_id`, `corporation_id` or
    `alliance_id` if one is given; `next` is the following page's URL (null after the last kill)."""
    wanted = parse_export(request.query)
    async with request.app[STORE].connect() as conn:
        # One more than asked says whether another page follows.
        found = await request.app[STORE].killmails.export(conn, after=wanted.after, limit=wanted.limit + 1,
                                                          kind=wanted.kind, entity_id=wanted.entity_id)
    items = found[:wanted.limit]
    more = len(found) > wanted.limit
    following = str(request.rel_url.update_query(after=items[-1]["killmail_id"])) if more else None
    return reply({"items": items, "after": wanted.after, "limit": wanted.limit, "next": following})
