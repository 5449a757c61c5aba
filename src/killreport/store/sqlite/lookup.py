"""LookupQueries on SQLite: store/lookup.py's queries, which are dialect-neutral Core but for two.

Records, names, member pages and changes are store/lookup.py's own statements (its columns come
back as the same Python types: times through types.UtcEpoch, JSON decoded, booleans as bool).
Search differs only in the strpos function (SQLite's is instr) and the request rate in the clock.

Case: SQLite's lower() folds ASCII letters only, PostgreSQL's (in a UTF-8 database) every letter.
EVE's names and tickers are ASCII as far as we have seen, so search matches the same rows on both;
tests/store/test_lookup_contract.py marks the difference for any other letter.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.store import tables as t
from killreport.store.lookup import (
    Page,
    Row,
    alliance,
    alliance_members,
    changes_page,
    character,
    corporation,
    corporation_characters,
    latest_changes,
    names,
    search_with,
)

__all__ = [
    "alliance", "alliance_members", "changes_page", "character", "corporation", "corporation_characters",
    "latest_changes", "names", "request_rate", "search",
]

_log = t.esi_request_log.c


async def search(conn: AsyncConnection, query_text: str, *, offset: int, limit: int) -> Page:
    """Alliances, corporations and characters whose name or ticker contains the text, any case.

    Order: exact ticker, exact name, name starting with it, the rest; then alliances before
    corporations before characters, then by name and id (store/lookup.py's search).
    """
    return await search_with(conn, query_text, offset=offset, limit=limit, position=func.instr)


async def request_rate(conn: AsyncConnection) -> Row:
    """ESI requests over the previous and the current minute: by status, in all, and per second."""
    # The window starts at the previous whole minute; esi_request_log keeps whole minutes as epoch
    # seconds, so the window's start is a number like theirs. The clock is the machine's (the
    # only one that writes this file).
    now = time.time()
    start = now - now % 60 - 60
    span = now - start
    query = (select(_log.status, func.coalesce(func.sum(_log.count), 0).label("n"))
             .where(_log.minute >= start).group_by(_log.status))
    by_status = {int(r.status): int(r.n) for r in await conn.execute(query)}
    total = sum(by_status.values())
    return {"window_s": round(span, 1), "requests": total, "per_s": round(total / span, 1) if span else 0.0,
            "by_status": by_status}
