"""The kill feed follower's lock and its record in killmail_feed (store/killmail_lease.py), on both
dialects: PostgreSQL lets one connection hold the lock, SQLite has nothing to take (the runner lock
keeps a second process out); the row names the holder and its heartbeat, and a clean stop clears it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.store import tables as t
from killreport.store.interface import Store

CLOCKS_AGREE = dt.timedelta(seconds=5)


async def _row(conn: AsyncConnection) -> tuple[str | None, dt.datetime | None]:
    row = (await conn.execute(select(t.killmail_feed.c.holder, t.killmail_feed.c.heartbeat_at))).one()
    return row.holder, row.heartbeat_at


async def test_the_heartbeat_names_the_follower_and_a_clean_stop_clears_it(
        store: Store) -> None:
    k = store.killmails
    async with store.begin() as conn:
        await k.follow_heartbeat(conn, "host:0")  # before the feed's first save: the row is made
        assert (await _row(conn))[0] == "host:0" and await k.load_cursor(conn) is None
        await k.record_hole(conn, 999_999, 1_000_000)
    async with store.begin() as conn:
        await k.follow_heartbeat(conn, "host:1")
        assert await k.load_cursor(conn) == 1_000_000, "a heartbeat leaves the cursor alone"
        holder, beat = await _row(conn)
        assert holder == "host:1" and beat is not None
        assert abs(beat - dt.datetime.now(dt.UTC)) < CLOCKS_AGREE
        await k.follow_release(conn, "host:2")
        assert (await _row(conn))[0] == "host:1", "only the holder clears it"
        await k.follow_heartbeat(conn, "host:2")  # the lock's holder takes a dead one's row
        assert (await _row(conn))[0] == "host:2"
        await k.follow_release(conn, "host:2")
        holder, last = await _row(conn)
        assert holder is None and last is not None and last >= beat, "the last heartbeat stays"


async def test_one_connection_holds_the_follower_lock_on_postgresql_and_sqlite_has_none_to_take(
        store: Store) -> None:
    k = store.killmails
    if store.dialect == "sqlite":
        async with store.connect() as conn:
            assert await k.try_follow_lock(conn) is True
            await k.follow_unlock(conn)  # nothing to give back, and no error
        return
    async with store.connect() as first, store.connect() as second:
        await first.execution_options(isolation_level="AUTOCOMMIT")
        await second.execution_options(isolation_level="AUTOCOMMIT")
        assert await k.try_follow_lock(first) is True
        assert await k.try_follow_lock(second) is False
        assert await store.schedule.try_lock(second) is True, "the scheduler's lock is another key"
        await store.schedule.unlock(second)
        await k.follow_unlock(first)
        assert await k.try_follow_lock(second) is True
        await k.follow_unlock(second)
