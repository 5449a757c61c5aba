"""Responses by status, summed over every worker (each flushes its counts periodically)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_ADD = text("INSERT INTO esi_request_counts (status, count) VALUES (:status, :count)"
            " ON CONFLICT (status) DO UPDATE SET count = esi_request_counts.count + EXCLUDED.count")
_READ = text("SELECT status, count FROM esi_request_counts")


async def add(engine: AsyncEngine, counts: Mapping[int, int]) -> None:
    """Add counts by status to `esi_request_counts` (one transaction)."""
    if not counts:
        return
    async with engine.begin() as conn:
        await conn.execute(_ADD, [{"status": s, "count": c} for s, c in sorted(counts.items())])


async def read(engine: AsyncEngine) -> dict[int, int]:
    """Every status counted so far, cluster-wide."""
    async with engine.connect() as conn:
        result = await conn.execute(_READ)
        return {int(r.status): int(r[1]) for r in result}
