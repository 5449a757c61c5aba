"""HistoryQueries, both stores: fetched histories kept as intervals and the questions they answer;
the daily snapshots and trends are store/snapshots.py's (re-exported here for the seam)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store.lookup import Row
from killreport.store.snapshots import take_snapshots, trend

__all__ = ["alliance_members_at", "character_history", "corporation_history", "corporation_members_at",
           "joined_left", "take_snapshots", "trend", "where_at"]


async def character_history(conn: AsyncConnection, character_id: int) -> list[Row]:
    """A character's employment, newest first."""
    raise NotImplementedError


async def corporation_history(conn: AsyncConnection, corporation_id: int) -> list[Row]:
    """A corporation's alliance membership, newest first."""
    raise NotImplementedError


async def where_at(conn: AsyncConnection, character_id: int, at: dt.datetime) -> Row | None:
    """Where a character was at `at`."""
    raise NotImplementedError


async def alliance_members_at(conn: AsyncConnection, alliance_id: int, at: dt.datetime) -> list[int]:
    """The corporations in an alliance at `at`."""
    raise NotImplementedError


async def corporation_members_at(conn: AsyncConnection, corporation_id: int, at: dt.datetime) -> list[int]:
    """The characters the copy knows were in a corporation at `at`."""
    raise NotImplementedError


async def joined_left(conn: AsyncConnection, kind: Kind, entity_id: int, *, since: dt.datetime,
                      until: dt.datetime) -> list[Row]:
    """Who joined and who left in [since, until), oldest first."""
    raise NotImplementedError
