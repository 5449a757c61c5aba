"""HistoryQueries' snapshots and trends: each test runs on PostgreSQL and on SQLite, same answers.

Entities go in as plain Core inserts (test_schedule_contract.put), member counts are moved with
plain updates between days, and the snapshots are taken through `store.history` for days the test
names (the scheduler names today). Deltas are compared with numbers worked out by hand below.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.store import tables as t
from killreport.store.interface import Store
from tests.store.test_schedule_contract import HOUR, put

DAY = dt.timedelta(days=1)
CORP_A, CORP_B, CORP_C, CORP_CLOSED = 98000001, 98000002, 98000003, 98000004
ALLIANCE, ALLIANCE_CLOSED, ALLIANCE_UNLISTED = 99000001, 99000002, 99000003


def today() -> dt.date:
    """The UTC date (the databases' clock is this machine's)."""
    return dt.datetime.now(dt.UTC).date()


async def universe(conn: AsyncConnection) -> None:
    """An alliance of A, B and one corporation the copy lacks; C on its own; a closed corporation,
    a closed alliance, and an alliance whose member list was never fetched."""
    for cid, members, state in ((CORP_A, 10, "active"), (CORP_B, 25, "active"), (CORP_C, 4, "active"),
                                (CORP_CLOSED, 0, "closed")):
        await put(conn, "corporation", cid, expires_in=HOUR, fetched_ago=60, member_count=members,
                  state=state)
    await put(conn, "alliance", ALLIANCE, expires_in=HOUR, fetched_ago=60)
    await put(conn, "alliance", ALLIANCE_CLOSED, expires_in=HOUR, fetched_ago=60,
              closed_at=dt.datetime.now(dt.UTC))
    await put(conn, "alliance", ALLIANCE_UNLISTED, expires_in=HOUR, fetched_ago=60)
    await conn.execute(update(t.alliances).where(t.alliances.c.id == ALLIANCE_UNLISTED)
                       .values(members_fetched_at=None))
    await conn.execute(insert(t.alliance_corporations), [
        {"alliance_id": ALLIANCE, "corporation_id": c} for c in (CORP_A, CORP_B, 98000099)])


async def _members(conn: AsyncConnection, corporation_id: int, count: int) -> None:
    await conn.execute(update(t.corporations).where(t.corporations.c.id == corporation_id)
                       .values(member_count=count))


async def _rows(conn: AsyncConnection) -> dict[tuple[str, int, dt.date], tuple[int, int | None]]:
    s = t.entity_snapshots.c
    rows = await conn.execute(select(s.kind, s.entity_id, s.day, s.member_count, s.corporation_count))
    return {(r.kind, r.entity_id, r.day): (r.member_count, r.corporation_count) for r in rows}


async def test_a_day_is_one_row_per_open_alliance_and_active_corporation_taken_once(store: Store) -> None:
    day = dt.date(2026, 12, 1)
    async with store.begin() as conn:
        await universe(conn)
        assert await store.history.take_snapshots(conn, day) == 4
    async with store.connect() as conn:
        assert await _rows(conn) == {
            ("corporation", CORP_A, day): (10, None), ("corporation", CORP_B, day): (25, None),
            ("corporation", CORP_C, day): (4, None),
            # The sum of the members the copy holds; the corporation count is ESI's list, all three.
            ("alliance", ALLIANCE, day): (35, 3)}
        taken_at = (await conn.execute(select(t.entity_snapshots.c.taken_at))).scalars().all()
    assert all(abs(when - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5) for when in taken_at)
    async with store.begin() as conn:
        await _members(conn, CORP_A, 99)
        await put(conn, "corporation", 98000005, expires_in=HOUR, fetched_ago=60)
        assert await store.history.take_snapshots(conn, day) == 0, "a taken day writes nothing"
    async with store.begin() as conn:
        assert await store.history.take_snapshots(conn, day + DAY) == 5
        rows = await _rows(conn)
    assert rows[("corporation", CORP_A, day)] == (10, None), "a taken row is never rewritten"
    assert rows[("alliance", ALLIANCE, day + DAY)] == (124, 3)
    assert len(rows) == 9


async def test_an_empty_copy_takes_nothing_and_the_day_stays_open(store: Store) -> None:
    async with store.begin() as conn:
        assert await store.history.take_snapshots(conn, today()) == 0
        await universe(conn)
        assert await store.history.take_snapshots(conn, today()) == 4


async def _history(store: Store, counts: dict[int, tuple[int, int]]) -> None:
    """Snapshots `days_ago` → (A's members, B's members) on just those days."""
    async with store.begin() as conn:
        await universe(conn)
    for days_ago, (a, b) in sorted(counts.items(), reverse=True):
        async with store.begin() as conn:
            await _members(conn, CORP_A, a)
            await _members(conn, CORP_B, b)
            assert await store.history.take_snapshots(conn, today() - days_ago * DAY) == 4


async def test_deltas_are_against_the_rows_7_and_30_days_before_and_none_where_one_is_missing(
        store: Store) -> None:
    # days ago -> (A, B): days 8, 31 and the rest were never taken.
    await _history(store, {37: (50, 5), 30: (80, 5), 14: (90, 6), 7: (100, 6), 1: (104, 7), 0: (120, 9)})
    async with store.connect() as conn:
        shown = await store.history.trend(conn, "corporation", CORP_A, days=8)
        alliance = await store.history.trend(conn, "alliance", ALLIANCE, days=8)
        one = await store.history.trend(conn, "corporation", CORP_A, days=1)
        longer = await store.history.trend(conn, "corporation", CORP_B, days=40)
    d = today()
    assert shown == [
        # 100 - 90 (day 14), 100 - 50 (day 37)
        {"day": d - 7 * DAY, "member_count": 100, "corporation_count": None, "delta_7": 10, "delta_30": 50},
        # day 8 and day 31 were never taken: no delta is made up
        {"day": d - DAY, "member_count": 104, "corporation_count": None, "delta_7": None, "delta_30": None},
        # 120 - 100 (day 7), 120 - 80 (day 30)
        {"day": d, "member_count": 120, "corporation_count": None, "delta_7": 20, "delta_30": 40}]
    assert [(r["day"], r["member_count"], r["corporation_count"], r["delta_7"], r["delta_30"])
            for r in alliance] == [(d - 7 * DAY, 106, 3, 10, 51), (d - DAY, 111, 3, None, None),
                                   (d, 129, 3, 23, 44)]
    assert one == shown[-1:], "the older days are read for the deltas even outside the window"
    assert [(r["day"], r["delta_7"], r["delta_30"]) for r in longer] == [
        (d - 37 * DAY, None, None), (d - 30 * DAY, 0, None), (d - 14 * DAY, None, None),
        (d - 7 * DAY, 0, 1), (d - DAY, None, None), (d, 3, 4)]


async def test_a_trend_of_nothing_is_empty_and_days_must_be_positive(store: Store) -> None:
    await _history(store, {3: (1, 2)})
    async with store.connect() as conn:
        assert await store.history.trend(conn, "corporation", CORP_A, days=3) == [], "day 3 is outside"
        assert await store.history.trend(conn, "alliance", 99009999, days=30) == []
        assert await store.history.trend(conn, "corporation", CORP_CLOSED, days=30) == []
        with pytest.raises(ValueError, match="days must be at least 1"):
            await store.history.trend(conn, "corporation", CORP_A, days=0)
