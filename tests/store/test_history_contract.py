"""Histories in the store, on PostgreSQL and on SQLite alike: what a fetched history leaves (records,
intervals, cache facts, whether it is still wanted), when it is wanted (first stored, a refresh's
move, a sweep's move), when the scheduler finds it due, and every HistoryQueries answer, also against
domain/history.py's rules over random histories."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from sqlalchemy import insert, select

from killreport.changes import Change
from killreport.domain import history
from killreport.domain.models import AllianceHistoryRecord, CorporationHistoryRecord, Entity
from killreport.domain.schedule import Affiliated, Move
from killreport.ids import Kind
from killreport.store import tables as t
from killreport.store.facts import Revalidated
from killreport.store.interface import Store
from tests.store.test_jobs_contract import HOUR, at, character, corporation, facts, put, row_of

T0 = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def day(n: float) -> dt.datetime:
    """`n` days after T0."""
    return T0 + dt.timedelta(days=n)


def iso(when: dt.datetime) -> str:
    """As ESI writes a start date."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def employment(*stays: tuple[float, int]) -> list[CorporationHistoryRecord]:
    """A corporation history from (day, corporation) pairs, oldest first, served newest first."""
    return [CorporationHistoryRecord(record_id=n + 1, start_date=iso(day(d)), corporation_id=c)
            for n, (d, c) in enumerate(stays)][::-1]


def membership(*stays: tuple[float, int | None]) -> list[AllianceHistoryRecord]:
    """An alliance history from (day, alliance or None) pairs, oldest first, served newest first."""
    return [AllianceHistoryRecord(record_id=n + 1, start_date=iso(day(d)), alliance_id=a)
            for n, (d, a) in enumerate(stays)][::-1]


async def keep(store: Store, kind: Kind, entity_id: int, records: Any, expires_in: float = HOUR) -> None:
    """Store a fetched history as a job does: in one transaction."""
    async with store.begin() as conn:
        await store.jobs.store_history(conn, kind, entity_id, records, facts(expires_in, '"h"'))


async def setup(store: Store) -> None:
    """Character 1 in corporations 10 → 20 → 10; corporations 10 and 20 moving between alliances."""
    await put(store, 1, character(corporation_id=98000010), facts(HOUR))
    await keep(store, "character", 1, employment((0, 98000010), (10, 98000020), (20, 98000010)))
    await keep(store, "character", 2, employment((5, 98000010)))
    await keep(store, "corporation", 98000010, membership((0, 99000001), (8, None), (15, 99000002)))
    await keep(store, "corporation", 98000020, membership((3, 99000001)))


async def test_a_fetched_history_is_kept_as_records_and_intervals_newest_first(store: Store) -> None:
    await setup(store)
    async with store.connect() as conn:
        got = await store.history.character_history(conn, 1)
        corp = await store.history.corporation_history(conn, 98000010)
        ch = t.corporation_history.c
        records = (await conn.execute(select(t.corporation_history).where(ch.character_id == 1)
                                      .order_by(ch.record_id))).mappings().all()
    assert [(r["corporation_id"], r["start"], r["end"], r["record_id"]) for r in got] == [
        (98000010, day(20), None, 3), (98000020, day(10), day(20), 2), (98000010, day(0), day(10), 1)]
    assert [(r["alliance_id"], r["start"], r["end"]) for r in corp] == [
        (99000002, day(15), None), (None, day(8), day(15)), (99000001, day(0), day(8))]
    assert [(r["record_id"], r["corporation_id"], r["start_date"]) for r in records] == [
        (1, 98000010, day(0)), (2, 98000020, day(10)), (3, 98000010, day(20))]
    async with store.connect() as conn:
        assert await store.history.character_history(conn, 404) == []


async def test_where_at_gives_the_corporation_and_its_alliance_at_that_moment(store: Store) -> None:
    await setup(store)
    async with store.connect() as conn:
        w = store.history.where_at
        assert await w(conn, 1, day(-1)) is None, "before the first record nothing is known"
        assert await w(conn, 1, day(0)) == {"corporation_id": 98000010, "alliance_id": 99000001}
        assert await w(conn, 1, day(9)) == {"corporation_id": 98000010, "alliance_id": None}
        assert await w(conn, 1, day(10)) == {"corporation_id": 98000020, "alliance_id": 99000001}
        assert await w(conn, 1, day(25)) == {"corporation_id": 98000010, "alliance_id": 99000002}
        assert await w(conn, 2, day(6)) == {"corporation_id": 98000010, "alliance_id": 99000001}
        assert await w(conn, 3, day(6)) is None
        # 98000020 has no alliance history before day 3: no alliance known then.
        assert await w(conn, 1, day(10).replace(tzinfo=None)) == {"corporation_id": 98000020,
                                                                    "alliance_id": 99000001}


async def test_members_at_a_moment(store: Store) -> None:
    await setup(store)
    async with store.connect() as conn:
        h = store.history
        assert await h.alliance_members_at(conn, 99000001, day(4)) == [98000010, 98000020]
        assert await h.alliance_members_at(conn, 99000001, day(8)) == [98000020]
        assert await h.alliance_members_at(conn, 99000002, day(14)) == []
        assert await h.alliance_members_at(conn, 99000002, day(15)) == [98000010]
        assert await h.corporation_members_at(conn, 98000010, day(6)) == [1, 2]
        assert await h.corporation_members_at(conn, 98000010, day(12)) == [2]
        assert await h.corporation_members_at(conn, 98000020, day(20)) == []


async def test_joined_and_left_in_a_window_oldest_first(store: Store) -> None:
    await setup(store)
    async with store.connect() as conn:
        feed = await store.history.joined_left(conn, "corporation", 98000010, since=day(0), until=day(20))
        everything = await store.history.joined_left(conn, "corporation", 98000010, since=day(-1),
                                                     until=day(21))
        alliance = await store.history.joined_left(conn, "alliance", 99000001, since=day(1), until=day(8))
        alliance_to = await store.history.joined_left(conn, "alliance", 99000001, since=day(1), until=day(9))
        with pytest.raises(ValueError, match="not a character"):
            await store.history.joined_left(conn, "character", 1, since=day(0), until=day(1))
    assert [(r["member_id"], r["event"], r["at"]) for r in feed] == [
        (1, "joined", day(0)), (2, "joined", day(5)), (1, "left", day(10))], "until is not included"
    assert [(r["member_id"], r["event"], r["at"]) for r in everything][-1] == (1, "joined", day(20))
    assert [(r["member_id"], r["event"]) for r in alliance] == [(98000020, "joined")]
    assert [(r["member_id"], r["event"]) for r in alliance_to] == [(98000020, "joined"), (98000010, "left")]


async def test_a_new_fetch_replaces_the_history_whole(store: Store) -> None:
    await setup(store)
    await keep(store, "character", 1, employment((0, 98000010), (30, 98000030)))
    async with store.connect() as conn:
        got = await store.history.character_history(conn, 1)
        records = (await conn.execute(select(t.corporation_history.c.record_id).where(
            t.corporation_history.c.character_id == 1))).scalars().all()
    assert [(r["corporation_id"], r["start"], r["end"]) for r in got] == [
        (98000030, day(30), None), (98000010, day(0), day(30))]
    assert sorted(records) == [1, 2]


async def test_an_unreadable_record_stores_nothing(store: Store) -> None:
    await setup(store)
    bad = [CorporationHistoryRecord(record_id=9, start_date="2020-13-45T00:00:00Z", corporation_id=98000099),
           *employment((0, 98000010))]
    with pytest.raises(history.HistoryError, match="record 9"):
        await keep(store, "character", 1, bad)
    async with store.connect() as conn:
        assert len(await store.history.character_history(conn, 1)) == 3
        records = (await conn.execute(select(t.corporation_history.c.record_id).where(
            t.corporation_history.c.character_id == 1))).scalars().all()
    assert sorted(records) == [1, 2, 3]
    assert (await row_of(store, "character", 1) or {})["history_etag"] == '"h"'


async def test_a_history_is_wanted_when_first_stored_and_no_longer_once_fetched(store: Store) -> None:
    await put(store, 98000010, corporation(alliance_id=99000002), facts(HOUR))
    first = await row_of(store, "corporation", 98000010)
    assert first is not None and first["history_wanted"] and first["history_expires_at"] is None
    await keep(store, "corporation", 98000010, membership((0, 99000001), (15, 99000002)), expires_in=600)
    row = await row_of(store, "corporation", 98000010) or {}
    assert not row["history_wanted"] and row["history_etag"] == '"h"'
    assert row["history_expires_at"] is not None and row["history_expires_at"] > at(500)
    # A history still saying the old alliance (a move seen while it was in flight) stays wanted.
    await keep(store, "corporation", 98000010, membership((0, 99000001)))
    assert (await row_of(store, "corporation", 98000010) or {})["history_wanted"]
    # A 304 moves only its Expires and checked time, and ends the wanting as a 200 does.
    await keep(store, "corporation", 98000010, membership((0, 99000001), (15, 99000002)))
    checked, before = Revalidated(at(0), at(2 * HOUR)), await row_of(store, "corporation", 98000010) or {}
    async with store.begin() as conn:
        await store.jobs.revalidate_history(conn, "corporation", 98000010, checked)
    after = await row_of(store, "corporation", 98000010) or {}
    assert (after["history_expires_at"], after["history_checked_at"]) == (checked.expires_at,
                                                                          checked.checked_at)
    assert after["history_fetched_at"] == before["history_fetched_at"], "a 304 fetched nothing"
    assert not after["history_wanted"]


async def test_a_refresh_that_moves_an_entity_wants_its_history_again(store: Store) -> None:
    cases: list[tuple[Kind, int, Entity, Any, str, Entity]] = [
        ("character", 1, character(corporation_id=98000010), employment((0, 98000010)), "corporation_id",
         character(corporation_id=98000020)),
        ("corporation", 98000010, corporation(alliance_id=99000001), membership((0, 99000001)),
         "alliance_id", corporation(alliance_id=99000002))]
    for kind, entity_id, entity, records, field, moved in cases:
        await put(store, entity_id, entity, facts(HOUR))
        await keep(store, kind, entity_id, records)
        async with store.autocommit() as conn:
            await store.jobs.store(conn, entity_id, entity, facts(HOUR),
                                   [Change(kind, entity_id, "name", "a", "b")])
        assert not (await row_of(store, kind, entity_id) or {})["history_wanted"], "a rename is no move"
        async with store.autocommit() as conn:
            await store.jobs.store_and_finish(conn, entity_id, moved, facts(HOUR), None,
                                              [Change(kind, entity_id, field, 1, 2)])
        assert (await row_of(store, kind, entity_id) or {})["history_wanted"], kind


async def test_a_sweep_move_wants_the_histories_it_makes_stale(store: Store) -> None:
    await put(store, 1, character(corporation_id=98000010, alliance_id=99000001), facts(HOUR))
    await put(store, 2, character(corporation_id=98000010, alliance_id=99000001), facts(HOUR))
    await put(store, 98000010, corporation(alliance_id=99000001), facts(HOUR))
    await put(store, 98000020, corporation(alliance_id=99000001), facts(HOUR))
    await keep(store, "character", 1, employment((0, 98000010)))
    await keep(store, "character", 2, employment((0, 98000010)))
    await keep(store, "corporation", 98000010, membership((0, 99000001)))
    await keep(store, "corporation", 98000020, membership((0, 99000001)))
    async with store.begin() as conn:
        moved = await store.schedule.apply_moves(conn, [
            Move(1, Affiliated(98000010, 99000001), Affiliated(98000020, 99000001)),  # new corporation
            Move(2, Affiliated(98000010, 99000001), Affiliated(98000010, 99000002)),  # its corporation moved
        ])
    assert moved == {1, 2}
    entities: list[tuple[Kind, int]] = [("character", 1), ("character", 2), ("corporation", 98000010),
                                        ("corporation", 98000020)]
    wanted = {(k, i): bool((await row_of(store, k, i) or {})["history_wanted"]) for k, i in entities}
    assert wanted == {("character", 1): True, ("character", 2): False, ("corporation", 98000010): True,
                      ("corporation", 98000020): False}


async def test_the_scheduler_finds_wanted_histories_past_their_expires(store: Store) -> None:
    s = store.schedule
    await put(store, 1, character(), facts(HOUR))                       # first stored: wanted, no Expires
    await put(store, 2, character(), facts(HOUR))
    await keep(store, "character", 2, employment((0, 98000001)))         # fetched: not wanted
    await put(store, 3, character(corporation_id=98000002), facts(HOUR))
    await keep(store, "character", 3, employment((0, 98000001)), expires_in=600)  # wanted, not yet expired
    async with store.connect() as conn:
        assert await s.due_ids(conn, "character", 86400, 10) == [1]
        assert await s.due_count(conn, "character", 86400) == 1
        assert await s.due_ids(conn, "character", 86400, 10, history=False) == []
        assert await s.due_count(conn, "character", 86400, history=False) == 0
    async with store.begin() as conn:
        await conn.execute(insert(t.sync_pending).values(kind="character", id=1, queued_at=at(0),
                                                         published=True, attempts=0))
    async with store.connect() as conn:
        assert await s.due_ids(conn, "character", 86400, 10) == [], "pending: not again"


async def test_answers_equal_the_rules_over_random_histories(store: Store) -> None:
    rng = random.Random(24)
    corporations = {c: membership(*sorted((rng.uniform(0, 50), rng.choice([99000001, 99000002, None]))
                                          for _ in range(rng.randint(1, 5))))
                    for c in range(98000001, 98000009)}
    characters = {c: employment(*sorted((rng.uniform(0, 50), rng.randrange(98000001, 98000009))
                                        for _ in range(rng.randint(1, 6))))
                  for c in range(1, 30)}
    for c, records in corporations.items():
        await keep(store, "corporation", c, records)
    for c, rec in characters.items():
        await keep(store, "character", c, rec)
    stays = {c: history.membership(r) for c, r in corporations.items()}
    jobs = {c: history.employment(r) for c, r in characters.items()}
    async with store.connect() as conn:
        for _ in range(200):
            when, who = day(rng.uniform(-5, 55)), rng.randrange(1, 30)
            job = history.at(jobs[who], when)
            member = history.at(stays.get(job.holder, []), when) if job and job.holder is not None else None
            expected = None if job is None else {"corporation_id": job.holder,
                                                 "alliance_id": member.holder if member else None}
            assert await store.history.where_at(conn, who, when) == expected
            alliance = rng.choice([99000001, 99000002])
            assert await store.history.alliance_members_at(conn, alliance, when) == sorted(
                c for c, s in stays.items() if (h := history.at(s, when)) and h.holder == alliance)
            since, until = sorted((day(rng.uniform(-5, 55)), day(rng.uniform(-5, 55))))
            feed = await store.history.joined_left(conn, "alliance", alliance, since=since, until=until)
            assert sorted((r["member_id"], r["event"], r["at"]) for r in feed) == sorted(
                [(c, "joined", s.start) for c, ss in stays.items() for s in history.joined(ss, since, until)
                 if s.holder == alliance]
                + [(c, "left", s.end) for c, ss in stays.items() for s in history.left(ss, since, until)
                   if s.holder == alliance])
            assert [r["at"] for r in feed] == sorted(r["at"] for r in feed)
