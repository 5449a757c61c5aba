"""Cached list routes that are not an entity (GET /alliances): the body and its cache facts."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from typing import Any, Final

from sqlalchemy import Select, Text, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.store import tables as t
from killreport.store.dialects import POSTGRES, Idioms

ALLIANCE_LIST: Final = "/alliances"  # the one list route; its path is also its fetch lock's key
# Transaction-level, so a pooled connection can never keep it; hashtext is int4, the scheduler's
# key (store/schedule.py) lies outside that range, so the two never meet.
_FETCH_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:key))")
_h = t.http_cache
_COLUMNS: Final = ("path", "body", "fetched_at", "expires_at", "etag", "last_modified", "checked_at")


@functools.cache
def fresh_statement(sql: Idioms = POSTGRES) -> Select[Any]:
    """The body cached for :path while its Expires has not passed."""
    return select(_h.c.body).where(_h.c.path == bindparam("path", type_=Text), _h.c.expires_at > sql.now())


@functools.cache
def put_statement(sql: Idioms = POSTGRES) -> Any:
    """Insert or replace the body and cache facts of :path (parameters named as the columns)."""
    stmt = sql.insert(_h).values({c: bindparam(c, type_=_h.c[c].type) for c in _COLUMNS})
    return stmt.on_conflict_do_update(index_elements=["path"],
                                      set_={c: stmt.excluded[c] for c in _COLUMNS if c != "path"})


@contextlib.asynccontextmanager
async def fetch_lock(engine: AsyncEngine, path: str) -> AsyncIterator[None]:
    """No other process fetches `path` while the block runs (it waits for its turn first).

    An advisory lock held by a transaction of its own: released when the block ends, or when a killed
    holder's connection drops."""
    async with engine.begin() as conn:
        await conn.execute(_FETCH_LOCK, {"key": f"killreport fetch {path}"})
        yield
