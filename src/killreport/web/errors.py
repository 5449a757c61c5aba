"""Every failure as one line: an error page, or `{"error": ...}` under /api/; never a traceback.

A database that cannot be reached (or does not answer in time) is a 503; anything unforeseen is a
500 whose details go to the server's log only.
"""

from __future__ import annotations

import asyncio
from typing import Final

import asyncpg
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from killreport.web import render
from killreport.web.params import Problem

log = structlog.get_logger("killreport.web")

REQUEST_TIMEOUT_S: Final = 15.0
DATABASE_ERRORS: Final = (DBAPIError, PoolTimeout, asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
_HTTP_MESSAGES: Final = {404: "no such page", 405: "only GET and HEAD are served here"}


def wants_json(request: web.Request) -> bool:
    """Whether the request is for the JSON API."""
    return request.path == "/api" or request.path.startswith("/api/")


def error_response(request: web.Request, status: int, message: str) -> web.Response:
    """An error as JSON (`{"error": message}`) under /api/, else as a small HTML page."""
    if wants_json(request):
        return web.json_response({"error": message}, status=status)
    return render.page("error.html", request, {"title": f"{status}", "status": status, "message": message},
                       status=status)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into error_response (one line), logging what a user should not see."""
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            return await handler(request)
    except Problem as exc:
        return error_response(request, exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(request, exc.status, _HTTP_MESSAGES.get(exc.status, exc.reason))
    except TimeoutError:
        log.warning("request timed out", path=request.path, timeout_s=REQUEST_TIMEOUT_S)
        return error_response(request, 503, f"the database did not answer within {REQUEST_TIMEOUT_S:.0f} s")
    except DATABASE_ERRORS as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        log.warning("database unavailable", path=request.path, error=f"{type(exc).__name__}: {first}")
        return error_response(request, 503, "the database is unavailable; try again shortly")
    except Exception:
        log.exception("unexpected error", path=request.path)
        return error_response(request, 500, "internal error (the server's log has the details)")
