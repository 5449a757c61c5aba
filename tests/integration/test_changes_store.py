"""The changes table keeps every recorded change, filtered by time, kind and entity."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.changes import Change
from killreport.store import changes


async def test_recorded_changes_come_back_filtered(engine: AsyncEngine) -> None:
    moved = Change("character", 90000001, "corporation_id", 98000001, 98000002)
    renamed = Change("corporation", 98000001, "name", "Old <b>", "New \u202e")
    async with engine.begin() as conn:
        await changes.record(conn, [moved, renamed])
        await changes.record(conn, [])
    async with engine.connect() as conn:
        everything = await changes.recent(conn)
        only_characters = await changes.recent(conn, kind="character")
        one = await changes.recent(conn, entity_id=98000001)
        later = await changes.recent(conn, since=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    assert [o.change for o in everything] == [moved, renamed]
    assert [o.change for o in only_characters] == [moved]
    assert [o.change for o in one] == [renamed]
    assert later == []
