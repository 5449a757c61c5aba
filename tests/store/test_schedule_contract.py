"""ScheduleQueries' contract: each test runs on PostgreSQL and on SQLite and expects the same answers.

The due rules (Expires, minimum age, pending, recent failures, closed, tombstoned, oldest first),
the lease, the alliance list's cache row, closing and reopening alliances, the sweep's marks and
reads, the compare-and-set moves, and recorded changes. Data goes in as plain Core inserts (the
same statements on both dialects); answers come out through `store.schedule` only.

One difference is by design and tested as such: on PostgreSQL `Leader.locked` is the advisory
lock, on SQLite it is a recent heartbeat (the file's runner lock is not visible from a query).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.changes import Change
from killreport.domain.schedule import Affiliated, Move, Rhythm, StoredAlliance
from killreport.ids import Kind
from killreport.store import tables as t
from killreport.store.interface import Store
from killreport.store.schedule import ALLIANCE_LIST

HOUR = 3600.0
FOUNDED = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
# Two clocks (the test's and the database's) read a moment apart agree within this.
CLOCKS_AGREE = dt.timedelta(seconds=5)


def _at(seconds_from_now: float | None) -> dt.datetime | None:
    if seconds_from_now is None:
        return None
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_from_now)


def _near_now(when: dt.datetime | None) -> bool:
    return when is not None and when.tzinfo is not None and abs(when - dt.datetime.now(dt.UTC)) < CLOCKS_AGREE


_REQUIRED: dict[Kind, dict[str, Any]] = {
    "alliance": {"name": "a", "ticker": "A", "creator_id": 90000001, "creator_corporation_id": 98000001,
                 "date_founded": FOUNDED},
    "corporation": {"name": "c", "ticker": "C", "member_count": 1, "description": "",
                    "friendly_fire": "legal", "home_station_id": 60000001, "shares": 0, "state": "active",
                    "type": "player_owned", "tax_rate_isk": 0.1, "tax_rate_loyalty_point": 0.0,
                    "war_eligible": True},
    "character": {"name": "x", "birthday": FOUNDED, "bloodline_id": 1, "race_id": 1,
                  "corporation_id": 98000001, "gender": "male", "achievement_score": 0},
}


async def put(conn: AsyncConnection, kind: Kind, entity_id: int, *, expires_in: float | None,
              fetched_ago: float, checked_ago: float | None = None, members_expires_in: float | None = None,
              **extra: Any) -> None:
    """A stored entity expiring `expires_in` s from now (negative: past), fetched `fetched_ago` s ago."""
    row = {**_REQUIRED[kind], "id": entity_id, "expires_at": _at(expires_in), "fetched_at": _at(-fetched_ago),
           "checked_at": _at(None if checked_ago is None else -checked_ago), **extra}
    if kind == "alliance":
        members = expires_in if members_expires_in is None else members_expires_in
        row = {"members_expires_at": _at(members), "members_fetched_at": _at(-fetched_ago)} | row
    await conn.execute(insert(t.ENTITY_TABLES[kind]).values(row))


async def _pending(conn: AsyncConnection, kind: Kind, entity_id: int) -> None:
    await conn.execute(insert(t.sync_pending).values(kind=kind, id=entity_id, queued_at=_at(0),
                                                     published=False, attempts=0))


async def _failed(conn: AsyncConnection, kind: Kind, entity_id: int, ago: float) -> None:
    await conn.execute(insert(t.sync_failures).values(kind=kind, id=entity_id, status=404, reason="gone",
                                                      attempts=1, permanent=True, failed_at=_at(-ago)))


async def _tombstone(conn: AsyncConnection, character_id: int) -> None:
    await conn.execute(insert(t.character_tombstones).values(id=character_id, deleted_seen_at=FOUNDED,
                                                             reason="deleted"))


async def test_due_means_past_expires_older_than_the_min_age_not_waiting_not_closed_not_deleted(
        store: Store) -> None:
    async with store.begin() as conn:
        await put(conn, "corporation", 1, expires_in=-60, fetched_ago=HOUR + 60)       # due
        await put(conn, "corporation", 2, expires_in=600, fetched_ago=HOUR - 600)      # fresh
        await put(conn, "corporation", 3, expires_in=-60, fetched_ago=2 * HOUR, checked_ago=60)  # 304 lately
        await put(conn, "corporation", 4, expires_in=-30, fetched_ago=2 * HOUR)        # due, expired later
        await put(conn, "corporation", 5, expires_in=-90, fetched_ago=2 * HOUR)        # due but pending
        await _pending(conn, "corporation", 5)
        await put(conn, "corporation", 6, expires_in=-90, fetched_ago=2 * HOUR)        # its job just failed
        await _failed(conn, "corporation", 6, ago=10)
        await put(conn, "corporation", 7, expires_in=-5, fetched_ago=2 * HOUR)         # failed long ago
        await _failed(conn, "corporation", 7, ago=HOUR + 1)
        await put(conn, "corporation", 8, expires_in=None, fetched_ago=2 * HOUR)       # no Expires at all
        await put(conn, "character", 90000001, expires_in=-1, fetched_ago=86400 + 1)   # due
        await put(conn, "character", 90000002, expires_in=-1, fetched_ago=86400 + 1)   # deleted
        await _tombstone(conn, 90000002)
        await put(conn, "alliance", 11, expires_in=600, fetched_ago=HOUR + 5, members_expires_in=-5)
        await put(conn, "alliance", 12, expires_in=600, fetched_ago=600)                          # fresh
        await put(conn, "alliance", 13, expires_in=-10, fetched_ago=2 * HOUR, closed_at=_at(-60))  # final
        await put(conn, "alliance", 14, expires_in=-5, fetched_ago=2 * HOUR, checked_ago=30,
                  members_checked_at=_at(-30), closed_at=_at(-60))                       # final fetch done
    s = store.schedule
    async with store.connect() as conn:
        assert await s.due_ids(conn, "corporation", HOUR, 10) == [8, 1, 4, 7], "no Expires, then oldest"
        assert await s.due_ids(conn, "corporation", HOUR, 2) == [8, 1]
        assert await s.due_ids(conn, "corporation", HOUR, 0) == []
        assert await s.due_ids(conn, "corporation", 3 * HOUR, 10) == [], "a longer min age waits"
        assert (await s.tracked(conn, "corporation"), await s.due_count(conn, "corporation", HOUR)) == (8, 4)
        assert await s.due_ids(conn, "character", 86400, 10) == [90000001]
        assert (await s.tracked(conn, "character"), await s.due_count(conn, "character", 86400)) == (1, 1)
        assert await s.due_ids(conn, "alliance", HOUR, 10) == [13, 11]
        assert (await s.tracked(conn, "alliance"), await s.due_count(conn, "alliance", HOUR)) == (2, 2)


async def test_a_failed_refresh_waits_the_failure_hold_not_a_month(store: Store) -> None:
    month = 30 * 86400.0
    async with store.begin() as conn:
        # Both a month old and past Expires (due by age); their last jobs failed, 2 h and 2 days ago.
        await put(conn, "character", 90000011, expires_in=-1, fetched_ago=month + 1)
        await _failed(conn, "character", 90000011, ago=2 * HOUR)
        await put(conn, "character", 90000012, expires_in=-1, fetched_ago=month + 1)
        await _failed(conn, "character", 90000012, ago=2 * 86400)
    async with store.connect() as conn:
        held_a_day = Rhythm(month, failed_after_s=86400)
        assert await store.schedule.due_ids(conn, "character", held_a_day, 10) == [90000012]
        assert await store.schedule.due_ids(conn, "character", Rhythm(month), 10) == [], "held a month"
        assert await store.schedule.due_count(conn, "character", Rhythm(month, failed_after_s=3600)) == 2


async def test_an_alliance_is_as_old_as_its_older_resource_and_a_missing_one_is_skipped(store: Store) -> None:
    async with store.begin() as conn:
        await put(conn, "alliance", 21, expires_in=-100, fetched_ago=2 * HOUR, members_expires_in=-10)
        await put(conn, "alliance", 22, expires_in=-10, fetched_ago=2 * HOUR, members_expires_in=-200)
        # Its member list never stored: it sorts by the alliance's own Expires, not first.
        await put(conn, "alliance", 23, expires_in=-50, fetched_ago=2 * HOUR, members_expires_in=None,
                  members_fetched_at=None)
        await conn.execute(update(t.alliances).where(t.alliances.c.id == 23).values(members_expires_at=None))
        await put(conn, "alliance", 24, expires_in=None, fetched_ago=2 * HOUR)        # neither: first
    async with store.connect() as conn:
        assert await store.schedule.due_ids(conn, "alliance", HOUR, 10) == [24, 22, 21, 23]


async def test_the_lease_names_the_leader_and_only_its_holder_renews_or_drops_it(store: Store) -> None:
    s = store.schedule
    async with store.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        assert await s.leader(conn) is None
        assert await s.try_lock(conn) is True
        await s.claim_lease(conn, "host:1")
        lead = await s.leader(conn)
        assert lead is not None and lead.holder == "host:1" and lead.locked
        assert _near_now(lead.started_at) and _near_now(lead.heartbeat_at)
        assert 0.0 <= lead.heartbeat_age_s < 5.0
        assert await s.heartbeat(conn, "host:1") is True
        assert await s.heartbeat(conn, "host:2") is False, "the row is not host:2's"
        renewed = await s.leader(conn)
        assert renewed is not None and renewed.heartbeat_at >= lead.heartbeat_at
        assert renewed.started_at == lead.started_at
        await s.drop_lease(conn, "host:2")
        assert await s.leader(conn) is not None, "only the holder drops it"
        await s.claim_lease(conn, "host:3")
        taken = await s.leader(conn)
        assert taken is not None and taken.holder == "host:3"
        await s.drop_lease(conn, "host:3")
        assert await s.leader(conn) is None
        await s.unlock(conn)


async def test_a_stale_lease_is_not_leading_on_sqlite_while_postgresql_asks_the_lock(store: Store) -> None:
    s = store.schedule
    async with store.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        assert await s.try_lock(conn)
        await s.claim_lease(conn, "host:1")
        await conn.execute(update(t.scheduler_lease).values(heartbeat_at=_at(-HOUR)))
        lead = await s.leader(conn)
        assert lead is not None and HOUR - 5 < lead.heartbeat_age_s < HOUR + 5
        # PostgreSQL: this session still holds the advisory lock. SQLite: an hour without a beat.
        assert lead.locked is (store.dialect == "postgresql")
        await s.unlock(conn)


async def _put_list(conn: AsyncConnection, ids: list[int], *, expires_in: float | None,
                    fetched_ago: float) -> None:
    await conn.execute(insert(t.http_cache).values(
        path=ALLIANCE_LIST, body=ids, etag='"v1"', last_modified=FOUNDED, fetched_at=_at(-fetched_ago),
        expires_at=_at(expires_in)))


async def _list_times(conn: AsyncConnection) -> tuple[dt.datetime | None, dt.datetime | None]:
    h = t.http_cache.c
    row = (await conn.execute(select(h.expires_at, h.checked_at).where(h.path == ALLIANCE_LIST))).one()
    return row.expires_at, row.checked_at


async def test_the_alliance_list_is_due_past_its_expires_and_the_min_age(store: Store) -> None:
    s = store.schedule
    async with store.begin() as conn:
        assert await s.alliance_list(conn, HOUR) is None
        await _put_list(conn, [99000003, 99000001], expires_in=-10, fetched_ago=2 * HOUR)
        cached = await s.alliance_list(conn, HOUR)
        assert cached is not None
        assert (cached.ids, cached.etag, cached.last_modified, cached.due) == (
            [99000003, 99000001], '"v1"', FOUNDED, True)
        not_yet = await s.alliance_list(conn, 3 * HOUR)
        assert not_yet is not None and not_yet.due is False, "checked within the min age"
        checked, until = _at(0), _at(HOUR)
        assert checked is not None and until is not None
        await s.touch_list(conn, until, checked)
        assert await _list_times(conn) == (until, checked)
        touched = await s.alliance_list(conn, 1.0)
        assert touched is not None and touched.due is False and touched.ids == [99000003, 99000001]
        await s.hold_list(conn, until - dt.timedelta(minutes=5))
        assert (await _list_times(conn))[0] == until, "an earlier hold never lowers Expires"
        await s.hold_list(conn, until + dt.timedelta(minutes=5))
        assert (await _list_times(conn))[0] == until + dt.timedelta(minutes=5)
        await s.touch_list(conn, None, checked)
        await s.hold_list(conn, until)
        assert (await _list_times(conn))[0] == until, "a hold sets a missing Expires"
        await s.touch_list(conn, None, checked - dt.timedelta(hours=2))
        due_again = await s.alliance_list(conn, HOUR)
        assert due_again is not None and due_again.due is True, "no Expires, checked long ago"


async def test_alliances_close_and_reopen_once_and_missing_ones_are_found(store: Store) -> None:
    s = store.schedule
    async with store.begin() as conn:
        for a in (1, 2, 3):
            await put(conn, "alliance", a, expires_in=HOUR, fetched_ago=60)
        await put(conn, "corporation", 10, expires_in=HOUR, fetched_ago=60)
        assert await s.close_alliances(conn, [3, 2, 2, 99]) == [2, 3]
        assert await s.close_alliances(conn, [2]) == [], "already closed"
        assert await s.close_alliances(conn, []) == []
        al = t.alliances.c
        assert _near_now((await conn.execute(select(al.closed_at).where(al.id == 2))).scalar())
        assert await s.stored_alliances(conn) == {1: StoredAlliance(False, FOUNDED),
                                                  2: StoredAlliance(True, FOUNDED),
                                                  3: StoredAlliance(True, FOUNDED)}
        assert await s.reopen_alliances(conn, [1, 3]) == [3], "1 was never closed"
        assert await s.reopen_alliances(conn, [3]) == []
        assert (await s.stored_alliances(conn))[3] == StoredAlliance(False, FOUNDED)
        assert await s.missing(conn, "alliance", [5, 1, 4, 5, 3]) == [4, 5]
        assert await s.missing(conn, "corporation", [10, 11, 1]) == [1, 11]
        assert await s.missing(conn, "alliance", []) == []
        many = list(range(100_000, 140_000))  # past SQLite's bound-variable limit, were it one per id
        assert await s.missing(conn, "corporation", many) == many


async def test_sweep_marks_start_now_and_a_hold_only_moves_later(store: Store) -> None:
    s = store.schedule
    async with store.begin() as conn:
        marks = await s.sweep_marks(conn)
        assert _near_now(marks.now) and marks.started is None and marks.not_before is None
        await s.mark_sweep_started(conn)
        later = await s.sweep_marks(conn)
        assert _near_now(later.started) and later.started is not None and later.now >= later.started
        await s.mark_sweep_started(conn)
        again = await s.sweep_marks(conn)
        assert again.started is not None and again.started >= later.started
        hold = FOUNDED + dt.timedelta(days=3000)
        await s.hold_sweep_until(conn, hold)
        await s.hold_sweep_until(conn, hold - dt.timedelta(hours=1))
        assert (await s.sweep_marks(conn)).not_before == hold, "the latest Expires wins"
        await s.hold_sweep_until(conn, hold + dt.timedelta(seconds=1))
        assert (await s.sweep_marks(conn)).not_before == hold + dt.timedelta(seconds=1)


async def test_the_sweep_reads_live_characters_and_moves_only_unchanged_rows(store: Store) -> None:
    s = store.schedule
    async with store.begin() as conn:
        await put(conn, "character", 3, expires_in=HOUR, fetched_ago=60, corporation_id=100, alliance_id=None)
        await put(conn, "character", 1, expires_in=HOUR, fetched_ago=60, corporation_id=100, alliance_id=500)
        await put(conn, "character", 2, expires_in=HOUR, fetched_ago=60, corporation_id=100, alliance_id=500)
        await put(conn, "character", 4, expires_in=HOUR, fetched_ago=60, corporation_id=100, alliance_id=500)
        await _tombstone(conn, 4)
        assert await s.sweep_ids(conn, after=0, limit=10) == [1, 2, 3]
        assert await s.sweep_ids(conn, after=0, limit=2) == [1, 2], "a page at a time"
        assert await s.sweep_ids(conn, after=2, limit=2) == [3], "from after the last one"
        assert await s.sweep_ids(conn, after=3, limit=2) == [], "4 is deleted"
        assert await s.affiliations(conn, [1, 3, 9]) == {1: Affiliated(100, 500), 3: Affiliated(100, None)}
        assert await s.affiliations(conn, []) == {}
        moved = await s.apply_moves(conn, [
            Move(1, Affiliated(100, 500), Affiliated(200, None)),     # row as found: moves
            Move(2, Affiliated(100, 501), Affiliated(200, 600)),      # row changed meanwhile: stays
            Move(3, Affiliated(100, None), Affiliated(300, 700)),     # NULL alliance matches NULL
            Move(9, Affiliated(100, None), Affiliated(300, 700)),     # not stored
        ])
        assert moved == {1, 3}
        assert await s.apply_moves(conn, []) == set()
        assert await s.affiliations(conn, [1, 2, 3]) == {
            1: Affiliated(200, None), 2: Affiliated(100, 500), 3: Affiliated(300, 700)}


async def test_recorded_changes_keep_their_json_values_and_the_time_now(store: Store) -> None:
    noted = [Change("character", 1, "corporation_id", 100, 200),
             Change("alliance", 2, "closed", False, True),
             Change("corporation", 3, "url", None, "https://example.com/ünïcode"),
             Change("corporation", 3, "tax_rate_isk", 0.25, 0.1),
             Change("alliance", 2, "corporations", [3, 1], [])]
    async with store.begin() as conn:
        await store.schedule.record_changes(conn, noted)
        await store.schedule.record_changes(conn, [])
    c = t.changes.c
    async with store.connect() as conn:
        rows = (await conn.execute(select(c.id, c.kind, c.entity_id, c.field, c.old_value, c.new_value,
                                          c.observed_at).order_by(c.id))).all()
    assert [Change(r.kind, r.entity_id, r.field, r.old_value, r.new_value) for r in rows] == noted
    assert [r.id for r in rows] == [1, 2, 3, 4, 5]
    assert all(_near_now(r.observed_at) for r in rows)


@pytest.mark.parametrize("min_age", [0.0, HOUR])
async def test_due_counts_agree_with_due_ids(store: Store, min_age: float) -> None:
    async with store.begin() as conn:
        for i in range(1, 41):
            await put(conn, "corporation", i, expires_in=(-1) ** i * i * 60, fetched_ago=i * 200)
    async with store.connect() as conn:
        due = await store.schedule.due_ids(conn, "corporation", min_age, 100)
        assert len(due) == await store.schedule.due_count(conn, "corporation", min_age)
        expected = [i for i in range(40, 0, -1) if i % 2 and (i * 200 >= min_age)]
        assert due == expected


def _mixed(kind: Kind, count: int, seed: int) -> list[dict[str, Any]]:
    """Rows with every combination of missing and past or future times, none near a min age's edge."""
    rng = random.Random(seed)
    rows = []
    for i in range(1, count + 1):
        def maybe(seconds: float) -> dt.datetime | None:
            return None if rng.random() < 0.15 else _at(seconds)
        row = {**_REQUIRED[kind], "id": i, "fetched_at": _at(-97 * rng.randint(1, 1200)),
               "expires_at": maybe(89 * rng.choice([-40, -3, -1, 1, 5, 50])),
               "checked_at": maybe(-97 * rng.randint(1, 1200))}
        if kind == "alliance":
            row |= {"members_fetched_at": maybe(-97 * rng.randint(1, 1200)),
                    "members_expires_at": maybe(89 * rng.choice([-40, -3, -1, 1, 5, 50])),
                    "members_checked_at": maybe(-97 * rng.randint(1, 1200)),
                    "closed_at": None if rng.random() < 0.7 else _at(-97 * rng.randint(1, 1200))}
        rows.append(row)
    return rows


async def _due_answers(store: Store) -> list[object]:
    answers: list[object] = []
    kinds: tuple[Kind, ...] = ("alliance", "corporation", "character")
    async with store.connect() as conn:
        for kind in kinds:
            answers.append(await store.schedule.tracked(conn, kind))
            for min_age in (0.0, 1800.0, HOUR, 86400.0):
                answers.append(await store.schedule.due_count(conn, kind, min_age))
                answers.append(await store.schedule.due_ids(conn, kind, min_age, 1000))
        answers.append(await store.schedule.sweep_ids(conn, after=0, limit=1000))
        answers.append(await store.schedule.sweep_ids(conn, after=150, limit=7))
    return answers


async def test_both_stores_find_the_same_due_entities_side_by_side(both_stores: tuple[Store, Store]) -> None:
    kinds: tuple[Kind, ...] = ("alliance", "corporation", "character")
    data = {kind: _mixed(kind, 300, seed) for seed, kind in enumerate(kinds)}
    for store in both_stores:
        async with store.begin() as conn:
            for kind, rows in data.items():
                await conn.execute(insert(t.ENTITY_TABLES[kind]), rows)
                for i in range(1, 300, 7):
                    await _pending(conn, kind, i)
                for i in range(3, 300, 11):
                    await _failed(conn, kind, i, ago=97 * (i % 50))
            for i in range(5, 300, 13):
                await _tombstone(conn, i)
    pg, lite = [await _due_answers(store) for store in both_stores]
    assert any(isinstance(a, list) and len(a) > 20 for a in pg), "the data has due entities"
    for number, (left, right) in enumerate(zip(pg, lite, strict=True)):
        assert left == right, f"answer {number} differs"
