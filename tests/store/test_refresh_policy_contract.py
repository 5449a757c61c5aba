"""The refresh policy's store side, on PostgreSQL and on SQLite alike: which corporations and
characters are due by tier, what marks a character's details wanted (a sweep's move, a kill showing
one) and what clears it (an answer for them), and what a kill marks on the corporations it names.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Table, select

from killreport.domain.schedule import Affiliated, Move, Rhythm
from killreport.store import tables as t
from killreport.store.facts import Revalidated
from killreport.store.interface import Store
from tests.kills import kill
from tests.store.test_jobs_contract import character, facts
from tests.store.test_schedule_contract import put

HOUR, DAY, WEEK = 3600.0, 86400.0, 7 * 86400.0
CORPORATIONS = Rhythm(HOUR, WEEK, WEEK)
CHARACTERS = Rhythm(30 * DAY)


def _ago(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)


def _iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


async def _column(store: Store, table: Table, name: str) -> dict[int, Any]:
    async with store.connect() as conn:
        result = await conn.execute(select(table.c.id, table.c[name]).order_by(table.c.id))
        return {int(r.id): r[1] for r in result}


async def test_corporations_are_due_hourly_in_an_alliance_or_after_a_kill_and_weekly_otherwise(
        store: Store) -> None:
    async with store.begin() as conn:
        old = 2 * HOUR
        await put(conn, "corporation", 1, expires_in=-60, fetched_ago=old, alliance_id=99000001)
        await put(conn, "corporation", 2, expires_in=-60, fetched_ago=old, seen_on_kill_at=_ago(DAY))
        await put(conn, "corporation", 3, expires_in=-60, fetched_ago=old, seen_on_kill_at=_ago(WEEK + HOUR))
        await put(conn, "corporation", 4, expires_in=-60, fetched_ago=old)                # dormant, fresh
        await put(conn, "corporation", 5, expires_in=-30, fetched_ago=WEEK + 60)          # dormant, due
        await put(conn, "corporation", 6, expires_in=600, fetched_ago=WEEK + 60)          # not expired
        await put(conn, "corporation", 7, expires_in=-60, fetched_ago=600, alliance_id=99000001)  # young
        await put(conn, "corporation", 8, expires_in=-60, fetched_ago=old, checked_ago=60,
                  seen_on_kill_at=_ago(60))                                               # a 304 lately
    s = store.schedule
    async with store.connect() as conn:
        assert await s.due_ids(conn, "corporation", CORPORATIONS, 10) == [1, 2, 5]
        assert await s.due_count(conn, "corporation", CORPORATIONS) == 3
        assert await s.active_corporations(conn, WEEK) == 4, "1, 2, 7 and 8"
        assert await s.active_corporations(conn, 0.0) == 2, "the alliance members"
        # One age for every row (a bare number): the rule as it was, every tier alike.
        assert await s.due_ids(conn, "corporation", HOUR, 10) == [1, 2, 3, 4, 5]


async def test_a_character_is_due_at_its_age_or_at_its_expires_once_its_details_are_wanted(
        store: Store) -> None:
    async with store.begin() as conn:
        await put(conn, "character", 90000001, expires_in=-DAY, fetched_ago=2 * DAY)             # waits
        await put(conn, "character", 90000002, expires_in=-DAY, fetched_ago=2 * DAY, detail_wanted=True)
        await put(conn, "character", 90000003, expires_in=HOUR, fetched_ago=60, detail_wanted=True)  # fresh
        await put(conn, "character", 90000004, expires_in=-29 * DAY, fetched_ago=30 * DAY + 60)
        await put(conn, "character", 90000005, expires_in=None, fetched_ago=60, detail_wanted=True)
    async with store.connect() as conn:
        due = await store.schedule.due_ids(conn, "character", CHARACTERS, 10)
        assert due == [90000005, 90000004, 90000002]
        assert await store.schedule.due_count(conn, "character", CHARACTERS) == 3


async def test_a_sweep_s_move_wants_the_details_and_an_answer_for_them_clears_it(store: Store) -> None:
    async with store.begin() as conn:
        for i in (1, 2, 3, 4):
            await put(conn, "character", 90000000 + i, expires_in=-60, fetched_ago=DAY, corporation_id=100)
        await store.schedule.apply_moves(conn, [
            Move(90000000 + i, Affiliated(100, None), Affiliated(200, None)) for i in (1, 2, 3, 4)])
    assert await _column(store, t.characters, t.DETAIL_WANTED) == {90000001 + i: True for i in range(4)}
    async with store.autocommit() as conn:
        await store.jobs.store(conn, 90000001, character(corporation_id=200), facts(DAY))
        await store.jobs.revalidate(conn, "character", 90000002, Revalidated(_ago(0), _ago(-DAY)))
        await store.jobs.revalidate_and_finish(conn, "character", 90000003, Revalidated(_ago(0), _ago(-DAY)))
        # A 304 for the history says nothing of the details.
        await store.jobs.revalidate(conn, "character", 90000004, Revalidated(_ago(0), _ago(-DAY)),
                                    prefix=t.HISTORY_PREFIX)
    wanted = await _column(store, t.characters, t.DETAIL_WANTED)
    assert wanted == {90000001: False, 90000002: False, 90000003: False, 90000004: True}


async def test_a_kill_marks_the_corporations_it_names_and_the_pilots_it_shows_moved(store: Store) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    async with store.begin() as conn:
        await put(conn, "corporation", 98000001, expires_in=HOUR, fetched_ago=60)
        await put(conn, "corporation", 98000002, expires_in=HOUR, fetched_ago=60, seen_on_kill_at=now)
        for pilot in (90000001, 90000002, 90000003):
            await put(conn, "character", pilot, expires_in=DAY, fetched_ago=HOUR, corporation_id=98000001,
                      alliance_id=None)
    recent, old = _iso(now - dt.timedelta(minutes=5)), _iso(now - dt.timedelta(days=2))
    kills = [
        kill(1, {"character_id": 90000001, "corporation_id": 98000002},                # moved
             [{"character_id": 90000002, "corporation_id": 98000001}], time=recent),  # where it was
        kill(2, {"character_id": 90000003, "corporation_id": 98000002},                # before the check
             [{"character_id": 90000009, "corporation_id": 98000001, "alliance_id": 99000001}], time=old),
    ]
    async with store.begin() as conn:
        await store.killmails.save(conn, kills)
    seen = await _column(store, t.corporations, t.SEEN_ON_KILL_AT)
    assert seen == {98000001: now - dt.timedelta(minutes=5), 98000002: now}, "a newer sighting stays"
    wanted = await _column(store, t.characters, t.DETAIL_WANTED)
    assert wanted == {90000001: True, 90000002: False, 90000003: False}
    async with store.begin() as conn:  # the same kills again change nothing: they are held already
        await store.killmails.save(conn, [kill(1, {"character_id": 90000003, "corporation_id": 98000002},
                                               [], time=_iso(now))])
    assert (await _column(store, t.characters, t.DETAIL_WANTED))[90000003] is False
