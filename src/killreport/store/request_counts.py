"""Requests by minute, route template and status, summed over every worker (each flushes its own).

One row per (minute, route, status) keeps both questions cheap: totals by status for summaries,
and the last hour by route for rates and 304 shares. A day of steady refreshing is a few thousand
rows, so nothing is ever pruned.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain.routes import RouteStatus

_ADD = text(
    "INSERT INTO esi_request_log (minute, route, status, count)"
    " VALUES (date_trunc('minute', now()), :route, :status, :count)"
    " ON CONFLICT (minute, route, status) DO UPDATE SET count = esi_request_log.count + EXCLUDED.count")
_TOTALS = text("SELECT status, sum(count) AS n FROM esi_request_log GROUP BY status")
_RECENT = text(
    "SELECT route, status, sum(count) AS n FROM esi_request_log"
    " WHERE minute > now() - make_interval(secs => :seconds) GROUP BY route, status")


async def add(conn: AsyncConnection, counts: Mapping[RouteStatus, int]) -> None:
    """Add counts by (route, status) to this minute's rows (sorted: concurrent flushes never deadlock)."""
    if not counts:
        return
    rows = [{"route": route, "status": status, "count": n} for (route, status), n in sorted(counts.items())]
    await conn.execute(_ADD, rows)


async def totals(conn: AsyncConnection) -> dict[int, int]:
    """Every status counted so far, cluster-wide."""
    return {int(r.status): int(r.n) for r in await conn.execute(_TOTALS)}


async def recent(conn: AsyncConnection, seconds: float) -> dict[RouteStatus, int]:
    """Counts by (route, status) over the last `seconds` (whole minutes: the current one included)."""
    result = await conn.execute(_RECENT, {"seconds": seconds})
    return {(r.route, int(r.status)): int(r.n) for r in result}
