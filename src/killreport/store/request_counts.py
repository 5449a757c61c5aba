"""Requests by minute, route template and status, summed over every worker (each flushes its own).

One row per (minute, route, status) keeps both questions cheap: totals by status for summaries,
and the last hour by route for rates and 304 shares. A day of steady refreshing is a few thousand
rows, so nothing is ever pruned.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import BigInteger, Float, Integer, Select, Text, bindparam, column, func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain.routes import RouteStatus
from killreport.store import tables as t
from killreport.store.dialects import Idioms, of

_log = t.esi_request_log
_COUNTED: Final = (column("route", Text), column("status", Integer), column("count", BigInteger))
_TOTALS: Final = select(_log.c.status, func.sum(_log.c.count).label("n")).group_by(_log.c.status)


@functools.cache
def add_statement(sql: Idioms) -> Any:
    """Add the :counts rows (route, status, count) to this minute's rows."""
    counted = sql.records("counts", _COUNTED)
    # Sorted: concurrent flushes take the rows' locks in one order, so they never deadlock.
    # WHERE true: SQLite reads `INSERT ... SELECT ... ON CONFLICT` as a join's ON without one.
    rows = (select(sql.minute(), counted.c.route, counted.c.status, counted.c.count).where(true())
            .order_by(counted.c.route, counted.c.status))
    stmt = sql.insert(_log).from_select(["minute", "route", "status", "count"], rows)
    return stmt.on_conflict_do_update(index_elements=["minute", "route", "status"],
                                      set_={"count": _log.c.count + stmt.excluded.count})


@functools.cache
def recent_statement(sql: Idioms) -> Select[Any]:
    """Counts by (route, status) over the last :seconds."""
    return (select(_log.c.route, _log.c.status, func.sum(_log.c.count).label("n"))
            .where(_log.c.minute > sql.ago(bindparam("seconds", type_=Float)))
            .group_by(_log.c.route, _log.c.status))


async def add(conn: AsyncConnection, counts: Mapping[RouteStatus, int]) -> None:
    """Add counts by (route, status) to this minute's rows: one statement, so one minute, all or nothing."""
    if not counts:
        return
    sql = of(conn)
    rows = [{"route": route, "status": status, "count": n} for (route, status), n in counts.items()]
    await conn.execute(add_statement(sql), {"counts": sql.record_list(rows)})


async def totals(conn: AsyncConnection) -> dict[int, int]:
    """Every status counted so far, cluster-wide."""
    return {int(r.status): int(r.n) for r in await conn.execute(_TOTALS)}


async def recent(conn: AsyncConnection, seconds: float) -> dict[RouteStatus, int]:
    """Counts by (route, status) over the last `seconds` (whole minutes: the current one included)."""
    result = await conn.execute(recent_statement(of(conn)), {"seconds": seconds})
    return {(r.route, int(r.status)): int(r.n) for r in result}
