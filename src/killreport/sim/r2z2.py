"""zKillboard's R2Z2 feed under `/r2z2` on its own port: the HTTP edge over the KillFeed."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any, Final

from aiohttp import web

from killreport.sim.cache import dumps
from killreport.sim.state import SIM_KEY, Sim

PREFIX: Final = "/r2z2"
_DAY: Final = re.compile(r"^\d{8}$")
_FILE: Final = re.compile(rf"^{PREFIX}/ephemeral/(\d{{1,18}})\.json$", re.ASCII)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(sim: Sim, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    extra = {"Content-Type": "application/json", "Date": formatdate(sim.clock(), usegmt=True)}
    return web.Response(status=status, body=dumps(data), headers=extra | (headers or {}))


@web.middleware
async def etiquette(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """The feed's manners, every request and answer counted in the stats (`r2z2`)."""
    counts, number = request.app[SIM_KEY].stats.r2z2, _number(request.path)
    counts.arrived(number)
    response = await _mannered(request, handler)
    counts.answered(response.status, number)
    return response


def _number(path: str) -> int | None:
    """The feed number of an `ephemeral/{N}.json` path, else None."""
    found = _FILE.match(path)
    return None if found is None else int(found[1])


async def _mannered(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """403 without a User-Agent, 429 above the request rate; then catch the feed up and answer."""
    sim = request.app[SIM_KEY]
    if not request.headers.get("User-Agent", "").strip():
        return _json(sim, {"error": "a User-Agent is required"}, 403)
    if not sim.r2z2_requests.allow(request.remote or "unknown"):
        return _json(sim, {"error": "too many requests"}, 429, {"Retry-After": "1"})
    sim.feed.catch_up()
    return await handler(request)


async def sequence(request: web.Request) -> web.Response:
    """GET ephemeral/sequence.json: the lagging pointer."""
    sim = request.app[SIM_KEY]
    return _json(sim, {"sequence": sim.feed.pointer})


async def package(request: web.Request) -> web.Response:
    """GET ephemeral/{N}.json: a published, kept and not stale file, else 404."""
    sim = request.app[SIM_KEY]
    text = request.match_info["seq"]
    found = sim.feed.served(int(text)) if text.isascii() and text.isdigit() else None
    if found is None:
        return _json(sim, {"error": "not found"}, 404)
    return _json(sim, found.document())


async def history(request: web.Request) -> web.Response:
    """GET history/{day}.json, history/raw/{day}.json and history/totals.json."""
    sim = request.app[SIM_KEY]
    day, raw = request.match_info["day"], request.match_info.get("raw") is not None
    if day == "totals" and not raw:
        return _json(sim, sim.feed.totals())
    found = sim.feed.day(day, raw) if _DAY.match(day) else None
    if found is None:
        return _json(sim, {"error": "not found"}, 404)
    return _json(sim, found)


async def _unknown(request: web.Request) -> web.Response:
    return _json(request.app[SIM_KEY], {"error": "not found"}, 404)


def build_r2z2_app(sim: Sim) -> web.Application:
    """The feed's application; it shares the simulator's state with the ESI one."""
    app = web.Application(middlewares=[etiquette])
    app[SIM_KEY] = sim
    app.router.add_get(f"{PREFIX}/ephemeral/sequence.json", sequence)
    app.router.add_get(PREFIX + "/ephemeral/{seq}.json", package)
    app.router.add_get(PREFIX + "/history/{day}.json", history)
    app.router.add_get(PREFIX + "/history/{raw:raw}/{day}.json", history)
    app.router.add_route("*", "/{tail:.*}", _unknown)
    return app
