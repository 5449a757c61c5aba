"""The scheduler's daily snapshot step over real stores (both dialects), its day from a scripted clock.

The clock is the one thing faked (the database's date cannot be moved): each step asks it for
today, as the scheduler asks the database. Restarts are new steps; two leaders in one moment are
two steps run together.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.scheduler.snapshots import DailySnapshots, database_today
from killreport.store import tables as t
from killreport.store.interface import Store
from tests.store.test_snapshots_contract import universe

DAY1 = dt.date(2026, 11, 1)


class Clock:
    """The date each step is told it is, moved by the test."""

    def __init__(self) -> None:
        self.day = DAY1
        self.asked = 0

    async def __call__(self, store: Store, conn: AsyncConnection) -> dt.date:
        """Today, as the database would say."""
        self.asked += 1
        return self.day


async def _days(store: Store) -> Counter[dt.date]:
    async with store.connect() as conn:
        return Counter((await conn.execute(select(t.entity_snapshots.c.day))).scalars())


async def test_one_snapshot_a_day_across_restarts_and_two_leaders_and_no_missed_day_made_up(
        store: Store) -> None:
    async with store.begin() as conn:
        await universe(conn)
    clock = Clock()
    leader = DailySnapshots(store, clock)
    assert await leader(1.0) == 4
    assert await leader(1.0) is None, "taken: the same day is not asked for again"
    assert await DailySnapshots(store, clock)(1.0) == 0, "a restart finds the day taken"
    clock.day += dt.timedelta(days=1)
    assert await leader(1.0) == 4, "the date turned: the next day's"
    clock.day += dt.timedelta(days=2)  # nothing ran on day 3
    both = await asyncio.gather(DailySnapshots(store, clock)(1.0), DailySnapshots(store, clock)(1.0))
    assert set(both) == {0, 4}, "two leaders at once write each row once"
    assert await leader(1.0) == 0, "a leader that missed a day takes today's only, and finds it taken"
    assert await _days(store) == {DAY1: 4, DAY1 + dt.timedelta(days=1): 4, DAY1 + dt.timedelta(days=3): 4}


async def test_the_steps_day_is_the_databases_utc_date(store: Store) -> None:
    async with store.connect() as conn:
        today = await database_today(store, conn)
    assert today in {(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=s)).date() for s in (-5, 5)}
    async with store.begin() as conn:
        await universe(conn)
    step = DailySnapshots(store)
    assert await step(1.0) == 4
    assert await step(1.0) is None
    assert await _days(store) == {today: 4}


async def test_a_step_that_fails_takes_the_day_on_the_next_tick(store: Store) -> None:
    async with store.begin() as conn:
        await universe(conn)
    blinks = [OSError("the database blinked")]

    async def flaky(store: Store, conn: AsyncConnection) -> dt.date:
        """The database's date, after failing once."""
        if blinks:
            raise blinks.pop()
        return DAY1

    step = DailySnapshots(store, flaky)
    with pytest.raises(OSError, match="blinked"):
        await step(1.0)  # the scheduler's loop logs it and ticks again
    assert await step(1.0) == 4
    assert await _days(store) == {DAY1: 4}
