"""`POST /api/lookup`: ids met elsewhere → what the copy holds, the rest fetched and awaited a while.

The one route that queues work: it puts the ids the copy lacks on the pending set and the job queue,
exactly as `killreport lookup` does (killreport/lookup.py), and never talks to ESI itself. The body
must be `application/json`: a browser cannot send that type to another origin without asking first,
so no page elsewhere can make a visitor's browser queue ids here.
"""

from __future__ import annotations

import json
from typing import Final

from aiohttp import web

from killreport.lookup import LookupRefused, look_up, parse_request
from killreport.queue.broker import BrokerError
from killreport.web.errors import REQUEST_TIMEOUT_S
from killreport.web.keys import BROKER, STORE
from killreport.web.params import Problem

DEFAULT_WAIT_S: Final = 5.0
# Well inside the request timeout every route has (web/errors.py), with room for the reads after it.
MAX_WAIT_S: Final = REQUEST_TIMEOUT_S - 5.0


async def lookup(request: web.Request) -> web.Response:
    """Each id's kind, name, ticker, corporation and alliance; which are pending, unknown or invalid."""
    if request.content_type != "application/json":
        raise Problem(415, "send the ids as a JSON body with Content-Type: application/json")
    try:
        data = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "the body is not JSON") from None
    try:
        ids, wait_s = parse_request(data, default_wait_s=DEFAULT_WAIT_S, max_wait_s=MAX_WAIT_S)
    except LookupRefused as exc:
        raise Problem(400, str(exc)) from None
    try:
        report = await look_up(request.app[STORE], request.app[BROKER].queue, ids, wait_s=wait_s)
    except (ConnectionError, BrokerError) as exc:
        raise Problem(503, f"the job queue is unavailable: {' '.join(str(exc).split())[:200]}") from None
    return web.json_response(report.as_json())
