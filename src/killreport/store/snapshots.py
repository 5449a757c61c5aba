"""Daily snapshots of every alliance and corporation, and the trends they give, both stores."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store.lookup import Row


async def take_snapshots(conn: AsyncConnection, day: dt.date) -> int:
    """One row per alliance and corporation for `day`, unless taken; the rows written."""
    raise NotImplementedError


async def trend(conn: AsyncConnection, kind: Kind, entity_id: int, *, days: int) -> list[Row]:
    """Snapshots of the last `days` days with 7- and 30-day deltas, oldest first."""
    raise NotImplementedError
