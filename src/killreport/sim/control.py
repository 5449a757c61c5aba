"""The `/_sim/` control API: stats, truth, faults, downtime, error budget, mutations, overrides."""

from __future__ import annotations

import json
import math
from typing import Any, Final

from aiohttp import web

from killreport.sim.faults import Override
from killreport.sim.mutate import KINDS
from killreport.sim.options import MALFORMED_MODES
from killreport.sim.routes import canonical
from killreport.sim.state import SIM_KEY, Sim
from killreport.sim.truth import truth

PREFIX: Final = "/_sim"


def _sim(request: web.Request) -> Sim:
    return request.app[SIM_KEY]


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"not JSON: {exc}"}),
                                 content_type="application/json") from exc
    if not isinstance(data, dict):
        raise _bad("expected a JSON object")
    return data


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def get_stats(request: web.Request) -> web.Response:
    """GET /_sim/stats, with the errors each IP's error-limit windows counted."""
    sim = _sim(request)
    return web.json_response({**sim.stats.as_dict(), "errors_by_window": sim.errors.errors_by_window()})


async def reset_stats(request: web.Request) -> web.Response:
    """POST /_sim/stats/reset."""
    sim = _sim(request)
    sim.stats.reset()
    return web.json_response(sim.stats.as_dict())


async def get_truth(request: web.Request) -> web.Response:
    """GET /_sim/truth; `?ever=1` adds `ever`: the current body of every entity any truth listed."""
    sim = _sim(request)
    flag = request.query.get("ever", "0")
    if flag not in ("0", "1", "true", "false"):
        raise _bad("ever must be 1 or 0")
    document = truth(sim.universe, sim.resources.tax_percent)
    if flag in ("1", "true"):
        document["ever"] = sim.ever()
    return web.json_response(document, dumps=lambda d: json.dumps(d, ensure_ascii=False))


# Ids one `POST /_sim/truth/ids` may ask for: enough for a bench's sample, small enough for one answer.
_TRUTH_IDS_MAX: Final = 100_000


async def post_truth_ids(request: web.Request) -> web.Response:
    """POST /_sim/truth/ids {"characters": [...], "corporations": [...]}: the truth of those ids."""
    body = await _body(request)
    lists = [body.get(key, []) for key in ("characters", "corporations")]
    if set(body) - {"characters", "corporations"} or not all(
            isinstance(ids, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
            for ids in lists):
        raise _bad('expected {"characters": [ids], "corporations": [ids]} (both optional)')
    if sum(len(ids) for ids in lists) > _TRUTH_IDS_MAX:
        raise _bad(f"at most {_TRUTH_IDS_MAX} ids a call")
    document = _sim(request).truth_of(*lists)
    return web.json_response(document, dumps=lambda d: json.dumps(d, ensure_ascii=False))


async def get_history(request: web.Request) -> web.Response:
    """GET /_sim/history/{characters|corporations}/{id}: the truth of one history, 404 for none."""
    kind = {"characters": "character", "corporations": "corporation"}.get(request.match_info["kind"])
    text = request.match_info["id"]
    if kind is None or not (text.isascii() and text.isdigit()):
        raise _bad("expected /_sim/history/characters/ID or /_sim/history/corporations/ID")
    rows = _sim(request).history(kind, int(text))
    if rows is None:
        return web.json_response({"error": f"no {kind} {text} with a history"}, status=404)
    return web.json_response({"id": int(text), "kind": kind, "records": rows})


async def get_histories(request: web.Request) -> web.Response:
    """GET /_sim/histories: the truth of the history of every corporation and character any truth listed."""
    return web.json_response(_sim(request).histories())


async def get_kills(request: web.Request) -> web.Response:
    """GET /_sim/kills: the kill truth, every published kill apart from what the cascade reaches."""
    sim = _sim(request)
    since = request.query.get("since")
    if since is not None and not (since.isascii() and since.isdigit()):
        raise _bad("since must be a sequence number")
    sim.feed.catch_up()
    document = sim.feed.truth(None if since is None else int(since))
    return web.json_response(document, dumps=lambda d: json.dumps(d, ensure_ascii=False))


async def publish_kills(request: web.Request) -> web.Response:
    """POST /_sim/kills {"count": N, "late": bool, "broken": bool}: publish N kills now, deterministically
    (`broken`: their files' killmails fail CCP's schema)."""
    sim = _sim(request)
    body = await _body(request)
    count, late, broken = body.get("count"), body.get("late"), body.get("broken", False)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
        raise _bad("count must be an integer within 1..10000")
    if late is not None and not isinstance(late, bool):
        raise _bad("late must be true, false or absent")
    if not isinstance(broken, bool):
        raise _bad("broken must be true or false")
    sim.feed.catch_up()
    kills = [p.document() for p in sim.feed.publish(count, late=late, broken=broken)]
    return web.json_response({"kills": kills}, dumps=lambda d: json.dumps(d, ensure_ascii=False))


async def get_faults(request: web.Request) -> web.Response:
    """GET /_sim/faults: the settings, overrides and downtime in force."""
    sim = _sim(request)
    return web.json_response(sim.faults.as_dict() | {"overrides": sim.overrides.as_dict(),
                                                    "downtime": sim.downtime.as_dict()})


async def set_faults(request: web.Request) -> web.Response:
    """POST /_sim/faults with any subset of the settings."""
    sim = _sim(request)
    try:
        sim.faults.update(await _body(request))
    except ValueError as exc:
        raise _bad(str(exc)) from exc
    return await get_faults(request)


async def downtime(request: web.Request) -> web.Response:
    """POST /_sim/downtime {"seconds": N, "vip_seconds": M}."""
    body = await _body(request)
    seconds, vip = body.get("seconds"), body.get("vip_seconds", 0)
    if not isinstance(seconds, int | float) or not _number(seconds) or not isinstance(vip, int | float) \
            or not _number(vip):
        raise _bad("seconds and vip_seconds must be non-negative numbers")
    sim = _sim(request)
    sim.downtime.begin(float(seconds), float(vip))
    return web.json_response(sim.downtime.as_dict())


async def spend_error_budget(request: web.Request) -> web.Response:
    """POST /_sim/spend-error-budget {"ip": optional, default the caller's; "rate": optional errors/s}."""
    body = await _body(request)
    ip = str(body.get("ip") or request.remote or "unknown")
    rate = body.get("rate")
    if rate is not None and not _positive(rate):
        raise _bad("rate must be a positive number of errors per second")
    state = _sim(request).errors.spend(ip, None if rate is None else float(rate))
    return web.json_response({"ip": ip, "rate": rate, "remain": state.remain, "reset_s": state.reset_s})


async def mutate(request: web.Request) -> web.Response:
    """POST /_sim/mutate {"count": N, "kinds": [...] optional}: the ids changed and a log of every change."""
    body = await _body(request)
    count, kinds = body.get("count", 1), body.get("kinds")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise _bad("count must be a non-negative integer")
    if kinds is not None and (not isinstance(kinds, list) or not kinds
                              or not all(isinstance(k, str) for k in kinds)):
        raise _bad(f"kinds must be a non-empty list of change kinds: {list(KINDS)}")
    try:
        changes = _sim(request).mutate(count, kinds)
    except ValueError as exc:
        raise _bad(str(exc)) from exc
    return web.json_response(changes)


async def set_override(request: web.Request) -> web.Response:
    """POST /_sim/override {"path", "status" | "mode", "times"}."""
    body = await _body(request)
    path, status, mode, times = body.get("path"), body.get("status"), body.get("mode"), body.get("times")
    if not isinstance(path, str) or not path.startswith("/"):
        raise _bad("path must be an absolute path such as /corporations/98000001")
    if (status is None) == (mode is None):
        raise _bad("give exactly one of status and mode")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)
                               or not 100 <= status < 600):
        raise _bad("status must be an HTTP status code")
    if mode is not None and mode not in MALFORMED_MODES:
        raise _bad(f"mode must be one of {list(MALFORMED_MODES)}")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise _bad("times must be a positive integer or null")
    sim = _sim(request)
    sim.overrides.set(canonical(path), Override(status, mode, times))
    return web.json_response(sim.overrides.as_dict())


async def clear_overrides(request: web.Request) -> web.Response:
    """DELETE /_sim/override."""
    sim = _sim(request)
    sim.overrides.clear()
    return web.json_response(sim.overrides.as_dict())


def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and value >= 0


def _positive(value: object) -> bool:
    # json.loads accepts Infinity and NaN; neither is a rate another program could keep up.
    return not isinstance(value, bool) and isinstance(value, int | float) and 0 < value < math.inf


def add_routes(app: web.Application) -> None:
    """Register the control API on `app` (before the ESI catch-all)."""
    app.router.add_get(f"{PREFIX}/stats", get_stats)
    app.router.add_post(f"{PREFIX}/stats/reset", reset_stats)
    app.router.add_get(f"{PREFIX}/truth", get_truth)
    app.router.add_post(f"{PREFIX}/truth/ids", post_truth_ids)
    app.router.add_get(f"{PREFIX}/history/{{kind}}/{{id}}", get_history)
    app.router.add_get(f"{PREFIX}/histories", get_histories)
    app.router.add_get(f"{PREFIX}/kills", get_kills)
    app.router.add_post(f"{PREFIX}/kills", publish_kills)
    app.router.add_get(f"{PREFIX}/faults", get_faults)
    app.router.add_post(f"{PREFIX}/faults", set_faults)
    app.router.add_post(f"{PREFIX}/downtime", downtime)
    app.router.add_post(f"{PREFIX}/spend-error-budget", spend_error_budget)
    app.router.add_post(f"{PREFIX}/mutate", mutate)
    app.router.add_post(f"{PREFIX}/override", set_override)
    app.router.add_delete(f"{PREFIX}/override", clear_overrides)
    app.router.add_route("*", PREFIX + "/{tail:.*}", _unknown)


async def _unknown(request: web.Request) -> web.Response:
    return web.json_response({"error": f"no control call {request.method} {request.path}"}, status=404)
