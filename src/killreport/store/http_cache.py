"""Cached list routes that are not an entity (GET /alliances): the body and its cache facts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Final

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from killreport.store import tables as t
from killreport.store.facts import CacheFacts

ALLIANCE_LIST: Final = "/alliances"  # the one list route; its path is also its fetch lock's key
# Transaction-level, so a pooled connection can never keep it; hashtext is int4, the scheduler's
# key (store/schedule.py) lies outside that range, so the two never meet.
_FETCH_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:key))")
_FRESH = text("SELECT body FROM http_cache WHERE path = :path AND expires_at > now()")


async def fresh_ids(conn: AsyncConnection, path: str) -> list[int] | None:
    """The cached id list of `path` while ESI says it is current, else None."""
    row = (await conn.execute(_FRESH, {"path": path})).first()
    return None if row is None else list(row.body)


async def put_ids(conn: AsyncConnection, path: str, ids: list[int], facts: CacheFacts) -> None:
    """Store the id list of `path` with its cache facts, replacing the earlier copy."""
    values = {"path": path, "body": ids, **facts.columns()}
    stmt = pg_insert(t.http_cache).values(values)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["path"], set_={k: stmt.excluded[k] for k in values if k != "path"}))


@contextlib.asynccontextmanager
async def fetch_lock(engine: AsyncEngine, path: str) -> AsyncIterator[None]:
    """No other process fetches `path` while the block runs (it waits for its turn first).

    An advisory lock held by a transaction of its own: released when the block ends, or when a killed
    holder's connection drops."""
    async with engine.begin() as conn:
        await conn.execute(_FETCH_LOCK, {"key": f"killreport fetch {path}"})
        yield
