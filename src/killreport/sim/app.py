"""The ESI side of the HTTP server: one catch-all handler that runs every request through the pipeline."""

from __future__ import annotations

import asyncio
from email.utils import formatdate
from typing import Final

from aiohttp import web

from killreport.sim import faults, schemas
from killreport.sim.faults import Draw
from killreport.sim.limits import BucketState, ErrorState
from killreport.sim.options import BucketSpec
from killreport.sim.resources import Answer, error_answer
from killreport.sim.routes import UNKNOWN_KEY, Match, match
from killreport.sim.state import SIM_KEY, Sim

JSON: Final = "application/json; charset=UTF-8"
_REASONS: Final = {420: "Enhance Your Calm", 429: "Too Many Requests"}
# The routes behind ESI's reported hidden per-IP limit (esi-reference.md: histories).
HISTORY_ROUTES: Final = frozenset({"alliance_history", "corporation_history"})


async def handle_esi(request: web.Request) -> web.StreamResponse:
    """Serve one ESI request and account for it in the stats."""
    sim = request.app[SIM_KEY]
    found = match(request.method, request.path)
    compat = request.headers.get("X-Compatibility-Date") or request.query.get("compatibility_date")
    ip = request.remote or "unknown"
    route_key = found.route.key if found.route else UNKNOWN_KEY
    sim.stats.started(request.headers.get("User-Agent"), compat)
    if found.route is not None and found.route.method == "GET" and sim.is_cache_violation(ip, found.path):
        sim.stats.cache_violation(route_key)
    if sim.downtime.active():
        sim.stats.down(route_key)
    status = 499  # the client went away before an answer was decided
    try:
        response = await _serve(sim, request, found, ip, compat)
        status = response.status
        # On the simulator's clock, like Expires: a client reads how long an answer is cached from
        # the two (aiohttp would write the machine's time, wrong when a test sets the clock).
        response.headers["Date"] = formatdate(sim.clock(), usegmt=True)
        return response
    finally:
        sim.stats.finished(route_key, status)


async def _serve(sim: Sim, request: web.Request, found: Match, ip: str, compat: str | None) -> web.Response:
    draw = faults.draw(sim.faults, sim.rng)
    if draw.delay_s:
        await asyncio.sleep(draw.delay_s)
    date = schemas.parse_compat_date(compat)
    spec = sim.bucket_of.get(found.route.name) if found.route else None
    if spec is not None:
        state = sim.buckets.admit(spec.group, ip, spec.tokens, spec.window_s)
        if state.retry_after_s is not None:
            answer = error_answer(429, faults.message(429), date or schemas.OLDEST_DATE)
            headers = _bucket_headers(spec, state) | {"Retry-After": str(state.retry_after_s)}
            return _response(answer.status, answer.body, JSON, headers)
    elif sim.errors.admit(ip).blocked:
        answer = error_answer(420, faults.message(420), date or schemas.OLDEST_DATE)
        return _response(420, answer.body, JSON, _error_headers(sim.errors.record(ip, 420)))
    if found.route is not None and found.route.name in HISTORY_ROUTES \
            and not sim.history_requests.allow(ip, sim.faults.history_per_min):
        return _hidden_limit(sim, spec, ip, found.route.key, date)
    status, body, ctype, headers = await _answer(sim, request, found, ip, date, draw)
    if spec is not None:
        headers.update(_bucket_headers(spec, sim.buckets.record(spec.group, ip, spec.tokens, spec.window_s,
                                                                status)))
    else:
        headers.update(_error_headers(sim.errors.record(ip, status)))
    return _response(status, body, ctype, headers)


async def _answer(sim: Sim, request: web.Request, found: Match, ip: str, date: str | None,
                  draw: Draw) -> tuple[int, bytes, str, dict[str, str]]:
    shown = date or schemas.OLDEST_DATE
    override = sim.overrides.take(found.path) if sim.overrides else None
    mode = draw.malformed
    if override is not None and override.status is not None:
        return _plain(error_answer(override.status, faults.message(override.status), shown))
    if override is not None:
        mode = override.mode
    if sim.downtime.active():
        status = 502 if found.route is not None and found.route.name == "status" else 503
        return _plain(error_answer(status, faults.message(status), shown))
    if draw.hang:
        await asyncio.sleep(sim.faults.hang_s)
        return _plain(error_answer(504, faults.message(504), shown))
    if draw.error_status is not None:
        return _plain(error_answer(draw.error_status, faults.message(draw.error_status), shown))
    answer = await _route(sim, request, found, ip, date)
    headers = _cache_headers(sim, request, answer, ip, found.path)
    if answer.status == 200 and answer.entry is not None and _matches(request, answer.entry.etag):
        return 304, b"", JSON, headers
    if answer.status == 200 and mode is not None:
        status, ctype, body = faults.malform(mode, answer.data, answer.body, sim.options.huge_bytes)
        return status, body, ctype, headers
    return answer.status, answer.body, JSON, headers


async def _route(sim: Sim, request: web.Request, found: Match, ip: str, date: str | None) -> Answer:
    shown = date or schemas.OLDEST_DATE
    route = found.route
    if route is None:
        return error_answer(404, "Not found", shown)
    if found.wrong_method:
        return error_answer(405, faults.message(405), shown)
    if found.bad_id:
        param = route.template[route.template.index("{") + 1: route.template.index("}")]
        return error_answer(400, f"Invalid {param}", shown)
    if date is None:
        return error_answer(400, "Invalid compatibility date, expected YYYY-MM-DD", shown)
    if route.method == "POST":
        return sim.resources.post(route, await request.read(), date)
    return sim.resources.get(route, found.entity_id, found.path, date)


def _hidden_limit(sim: Sim, spec: BucketSpec | None, ip: str, route_key: str,
                  date: str | None) -> web.Response:
    """The history routes' hidden limit: a 429 without a single limit header, counted as an error."""
    sim.stats.hidden_limit_hit(route_key)
    if spec is None:
        sim.errors.record(ip, 429)
    else:
        sim.buckets.record(spec.group, ip, spec.tokens, spec.window_s, 429)
    answer = error_answer(429, faults.message(429), date or schemas.OLDEST_DATE)
    return _response(429, answer.body, JSON, {})


def _cache_headers(sim: Sim, request: web.Request, answer: Answer, ip: str, path: str) -> dict[str, str]:
    if answer.entry is not None:
        entry = answer.entry
        sim.hand_out(ip, path, entry.expires)
        return {"ETag": entry.etag, "Last-Modified": entry.last_modified_text, "Expires": entry.expires_text,
                "Cache-Control": "public"}
    if answer.expires_text is not None:
        if answer.expires_at is not None and answer.status == 200:
            ids = [row["character_id"] for row in answer.data]
            sim.stats.affiliation_early(sim.early_affiliation_ids(ip, ids, answer.expires_at))
        return {"Expires": answer.expires_text, "Cache-Control": "public"}
    return {}


def _matches(request: web.Request, etag: str) -> bool:
    given = request.headers.get("If-None-Match")
    if given is None:
        return False
    return any(tag.strip() in (etag, "*") for tag in given.split(","))


def _plain(answer: Answer) -> tuple[int, bytes, str, dict[str, str]]:
    return answer.status, answer.body, JSON, {}


def _error_headers(state: ErrorState) -> dict[str, str]:
    return {"X-ESI-Error-Limit-Remain": str(state.remain), "X-ESI-Error-Limit-Reset": str(state.reset_s)}


def _bucket_headers(spec: BucketSpec, state: BucketState) -> dict[str, str]:
    return {"X-Ratelimit-Group": spec.group, "X-Ratelimit-Limit": spec.limit_header,
            "X-Ratelimit-Remaining": str(state.remaining), "X-Ratelimit-Used": str(state.used)}


def _response(status: int, body: bytes, ctype: str, headers: dict[str, str]) -> web.Response:
    headers["Content-Type"] = ctype
    return web.Response(status=status, body=body if status != 304 else None, headers=headers,
                        reason=_REASONS.get(status))
