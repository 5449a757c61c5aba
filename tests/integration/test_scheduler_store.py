"""The scheduler's SQL and edges on a real PostgreSQL, with the stub broker and a fake ESI.

Due rules (Expires, minimum age, pending, closed, tombstoned), spread release, the alliance list
(conditional fetch, new, left, returned), the affiliation sweep (chunks, moves, changes, unknown
corporations and alliances, its rhythm) and the lock (one holder; the next takes over).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from pydantic import TypeAdapter
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from killreport.config import Settings
from killreport.domain import models
from killreport.domain.cache import Fetched, NotModified
from killreport.esi.errors import MalformedResponse
from killreport.esi.validate import validate
from killreport.ids import Kind
from killreport.queue.broker import QUEUE_NAMES
from killreport.queue.messages import decode
from killreport.queue.stub import StubBroker
from killreport.scheduler import lock
from killreport.scheduler.alliances import refresh_list_if_due
from killreport.scheduler.context import Scheduling
from killreport.scheduler.refresh import Releaser
from killreport.scheduler.rules import ListDelta
from killreport.scheduler.sweep import sweep_if_due
from killreport.store import changes, jobs, schedule
from killreport.store import tables as t
from killreport.worker.session import holder_name
from tests.stores import as_store

T = TypeVar("T")
HOUR = 3600.0
FOUNDED = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def _at(seconds_from_now: float | None) -> dt.datetime | None:
    if seconds_from_now is None:
        return None
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_from_now)


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


async def put(conn: AsyncConnection, kind: Kind, entity_id: int, *, expires_in: float, fetched_ago: float,
              checked_ago: float | None = None, members_expires_in: float | None = None,
              **extra: Any) -> None:
    """A stored entity expiring `expires_in` s from now (negative: past), fetched `fetched_ago` s ago."""
    row = {**_REQUIRED[kind], "id": entity_id, "expires_at": _at(expires_in), "fetched_at": _at(-fetched_ago),
           "checked_at": _at(None if checked_ago is None else -checked_ago), **extra}
    if kind == "alliance":
        members = expires_in if members_expires_in is None else members_expires_in
        row |= {"members_expires_at": _at(members), "members_fetched_at": _at(-fetched_ago)}
    await conn.execute(insert(t.ENTITY_TABLES[kind]).values(row))


def settings(**more: Any) -> Settings:
    base: dict[str, Any] = {"database_url": "postgresql://root@127.0.0.1/none",
                            "esi_base_url": "http://127.0.0.1:1"}
    return Settings(**(base | more))


@dataclass
class FakeEsi:
    """Answers the scheduler's two calls from plain data and records what it was asked."""

    listed: list[int] = field(default_factory=list)
    list_etag: str = '"v1"'
    list_modified: dt.datetime | None = None
    where: dict[int, tuple[int, int | None]] = field(default_factory=dict)
    expires_in_s: float = HOUR
    gets: list[str | None] = field(default_factory=list)
    batches: list[list[int]] = field(default_factory=list)
    broken: set[int] = field(default_factory=set)   # calls (0: the list, n: the nth batch) answered badly

    def _maybe_broken(self, call: int) -> None:
        if call in self.broken:
            raise MalformedResponse("unreadable body", status=200, expires_at=_at(self.expires_in_s))

    async def get(self, path: str, model: TypeAdapter[T] | type[T],
                  etag: str | None = None) -> Fetched[T] | NotModified:
        assert path == "/alliances"
        self.gets.append(etag)
        self._maybe_broken(0)
        if etag == self.list_etag:
            return NotModified(expires_at=_at(self.expires_in_s))
        data = validate(model, str(self.listed).encode(), path)
        return Fetched(data, _at(self.expires_in_s), self.list_etag, self.list_modified)

    async def affiliations(self, character_ids: Sequence[int]) -> Fetched[Sequence[models.Affiliation]]:
        assert 1 <= len(character_ids) <= 1000
        self.batches.append(list(character_ids))
        self._maybe_broken(len(self.batches))
        rows = [models.Affiliation(character_id=i, corporation_id=self.where[i][0],
                                   alliance_id=self.where[i][1]) for i in character_ids if i in self.where]
        return Fetched(rows, _at(self.expires_in_s), None, None)


async def counts(conn: AsyncConnection, kind: Kind, min_age_s: float) -> tuple[int, int]:
    """Tracked and due."""
    return await schedule.tracked(conn, kind), await schedule.due_count(conn, kind, min_age_s)


def queued(broker: StubBroker, kind: Kind) -> list[int]:
    return sorted(decode(body).id for body in broker.queues[QUEUE_NAMES[kind]])


async def test_due_means_past_expires_older_than_the_min_age_not_pending_not_closed_not_deleted(
        engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await put(conn, "corporation", 1, expires_in=-60, fetched_ago=HOUR + 60)       # due
        await put(conn, "corporation", 2, expires_in=600, fetched_ago=HOUR - 600)      # fresh
        await put(conn, "corporation", 3, expires_in=-60, fetched_ago=2 * HOUR, checked_ago=60)  # 304 lately
        await put(conn, "corporation", 4, expires_in=-30, fetched_ago=2 * HOUR)        # due, expired later
        await put(conn, "corporation", 5, expires_in=-90, fetched_ago=2 * HOUR)        # due but pending
        await jobs.add(conn, "corporation", [5], skip_fresh=False)
        await put(conn, "corporation", 6, expires_in=-90, fetched_ago=2 * HOUR)        # its job just failed
        await jobs.record_failure(conn, "corporation", 6, status=404, reason="gone", attempts=1,
                                      permanent=True)
        await put(conn, "corporation", 7, expires_in=-5, fetched_ago=2 * HOUR)         # failed long ago
        await jobs.record_failure(conn, "corporation", 7, status=None, reason="dead", attempts=5,
                                      permanent=False)
        await conn.execute(update(t.sync_failures).where(t.sync_failures.c.id == 7)
                           .values(failed_at=_at(-HOUR - 1)))
        await put(conn, "character", 90000001, expires_in=-1, fetched_ago=86400 + 1)   # due
        await put(conn, "character", 90000002, expires_in=-1, fetched_ago=86400 + 1)   # deleted
        await conn.execute(insert(t.character_tombstones).values(
            id=90000002, deleted_seen_at=_at(0), reason="deleted"))
        await put(conn, "alliance", 11, expires_in=600, fetched_ago=HOUR + 5,
                  members_expires_in=-5)                                                # members due
        await put(conn, "alliance", 12, expires_in=600, fetched_ago=600)                         # fresh
        await put(conn, "alliance", 13, expires_in=-10, fetched_ago=2 * HOUR, closed_at=_at(-60))  # final
        await put(conn, "alliance", 14, expires_in=-5, fetched_ago=2 * HOUR, checked_ago=30,
                  members_checked_at=_at(-30), closed_at=_at(-60))                      # final fetch done
    async with engine.connect() as conn:
        assert await schedule.due_ids(conn, "corporation", HOUR, 10) == [1, 4, 7], "oldest Expires first"
        assert await schedule.due_ids(conn, "corporation", HOUR, 1) == [1]
        assert await schedule.due_ids(conn, "corporation", 3 * HOUR, 10) == [], "a longer min age waits"
        assert await counts(conn, "corporation", HOUR) == (7, 3)
        assert await schedule.due_ids(conn, "character", 86400, 10) == [90000001]
        assert await counts(conn, "character", 86400) == (1, 1)
        assert await schedule.due_ids(conn, "alliance", HOUR, 10) == [13, 11]
        assert await counts(conn, "alliance", HOUR) == (2, 2), "closed ones: untracked, one final fetch"


async def test_release_queues_a_spread_share_once(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        # Alliance members: refreshed hourly (a corporation outside alliances and kills waits a week).
        for i in range(1, 101):
            await put(conn, "corporation", 98000000 + i, expires_in=-i, fetched_ago=HOUR + i,
                      alliance_id=99000001)
    broker = StubBroker()
    releaser = Releaser(Scheduling(as_store(engine), broker, FakeEsi(), settings(refresh_spread=0.25)))
    # 100 tracked over an hour, a quarter of it to drain: 1 a tick of 1 s, 10 after a 90 s pause.
    assert await releaser.tick(1.0) == {"corporation": 1}
    assert queued(broker, "corporation") == [98000100], "the oldest Expires first"
    assert await releaser.tick(90.0) == {"corporation": 10}
    assert await releaser.tick(10_000.0) == {"corporation": 89}
    assert await releaser.tick(10_000.0) == {}, "pending ones are not queued again"
    assert len(queued(broker, "corporation")) == 100


async def test_release_follows_the_tiers_and_a_sweep_s_move_brings_the_details_at_their_expires(
        engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await put(conn, "corporation", 98000001, expires_in=-60, fetched_ago=2 * HOUR, alliance_id=99000001)
        await put(conn, "corporation", 98000002, expires_in=-60, fetched_ago=2 * HOUR)  # dormant: a week
        for i in (90000001, 90000002):  # details a day old, expired: the next fetch is in 29 days
            await put(conn, "character", i, expires_in=-60, fetched_ago=86400.0, corporation_id=98000001,
                      alliance_id=99000001)
    where = {90000001: (98000001, 99000001), 90000002: (98000002, None)}  # 90000002 moved
    esi, broker = FakeEsi(where=where, expires_in_s=HOUR), StubBroker()
    ctx = Scheduling(as_store(engine), broker, esi, settings(history=False))
    releaser = Releaser(ctx)
    assert await releaser.tick(1.0) == {"corporation": 1}
    assert queued(broker, "corporation") == [98000001], "the alliance member, not the dormant one"
    assert await sweep_if_due(ctx) == 1
    assert await releaser.tick(1.0) == {"character": 1}
    assert queued(broker, "character") == [90000002], "the moved one, at its Expires"


async def test_the_alliance_list_new_left_and_returned(engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(listed=[99000001, 99000002, 99000003]), StubBroker()
    ctx = Scheduling(as_store(engine), broker, esi, settings(refresh_min_age_alliance=1.0))
    delta = await refresh_list_if_due(ctx)
    assert delta is not None and delta.new == [99000001, 99000002, 99000003]
    assert esi.gets == [None], "nothing stored: an unconditional request"
    assert queued(broker, "alliance") == [99000001, 99000002, 99000003]
    assert await refresh_list_if_due(ctx) is None, "not before the list's Expires"

    async with engine.begin() as conn:
        for a in (99000001, 99000002, 99000003):
            await put(conn, "alliance", a, expires_in=-1, fetched_ago=10)
        await conn.execute(text("DELETE FROM sync_pending"))
        await _expire_list(conn)
    broker.queues[QUEUE_NAMES["alliance"]].clear()
    esi.listed, esi.list_etag, esi.list_modified = [99000001, 99000003, 99000004], '"v2"', _at(0)
    delta = await refresh_list_if_due(ctx)
    assert delta is not None and (delta.new, delta.left, delta.returned) == ([99000004], [99000002], [])
    assert esi.gets[-1] == '"v1"', "a conditional request with the stored ETag"
    assert queued(broker, "alliance") == [99000002, 99000004], "the one that left: its final state"

    async with engine.begin() as conn:
        await _expire_list(conn)
    delta = await refresh_list_if_due(ctx)
    assert esi.gets[-1] == '"v2"', "answered 304"
    assert delta == ListDelta([99000004], [], []), "still not stored (pending): looked for on a 304 too"
    async with engine.connect() as conn:
        cached = await schedule.alliance_list(conn, 1.0)
    assert cached is not None and not cached.due, "a 304 moves the list's Expires"
    async with engine.begin() as conn:
        await _expire_list(conn)
    esi.listed, esi.list_etag = [99000001, 99000002, 99000003, 99000004], '"v3"'
    delta = await refresh_list_if_due(ctx)
    assert delta is not None and delta.returned == [99000002]
    async with engine.connect() as conn:
        rows = [o.change for o in await changes.recent(conn, kind="alliance")]
        closed = (await conn.execute(
            select(t.alliances.c.id).where(t.alliances.c.closed_at.isnot(None)))).all()
    assert [(c.entity_id, c.field, c.old, c.new) for c in rows] == [
        (99000002, "closed", False, True), (99000002, "closed", True, False)]
    assert closed == []


async def _expire_list(conn: AsyncConnection) -> None:
    await conn.execute(update(t.http_cache).values(expires_at=_at(-1), fetched_at=_at(-10), checked_at=None))


async def test_a_sweep_moves_characters_records_changes_and_queues_what_is_not_stored(
        engine: AsyncEngine) -> None:
    ids = list(range(90000001, 90002501))
    async with engine.begin() as conn:
        for i in ids:
            await put(conn, "character", i, expires_in=HOUR, fetched_ago=60, corporation_id=98000001,
                      alliance_id=99000001)
        await put(conn, "corporation", 98000001, expires_in=HOUR, fetched_ago=60)
        await put(conn, "alliance", 99000001, expires_in=HOUR, fetched_ago=60)
        await conn.execute(insert(t.character_tombstones).values(
            id=90000007, deleted_seen_at=_at(0), reason="x"))
    where: dict[int, tuple[int, int | None]] = {i: (98000001, 99000001) for i in ids}
    where[90000002] = (98000009, 99000009)    # to a corporation and an alliance nobody stored
    where[90001500] = (98000001, None)        # an alliance change only (answer differs from row)
    where[90002500] = (1000167, None)         # to an NPC corporation: nothing to queue
    esi, broker = FakeEsi(where=where, expires_in_s=2.0), StubBroker()
    ctx = Scheduling(as_store(engine), broker, esi, settings(refresh_min_age_affiliation=0.5))
    assert await sweep_if_due(ctx) == 3
    assert [len(b) for b in esi.batches] == [1000, 1000, 499], "ceil(2499/1000) calls, tombstone left out"
    assert 90000007 not in {i for b in esi.batches for i in b}
    assert queued(broker, "corporation") == [98000009] and queued(broker, "alliance") == [99000009]
    async with engine.connect() as conn:
        got = dict((await conn.execute(select(t.characters.c.id, t.characters.c.corporation_id)
                                       .where(t.characters.c.id.in_([90000002, 90002500])))).all())
        rows = [(o.change.entity_id, o.change.field) for o in await changes.recent(conn, kind="character")]
    assert got == {90000002: 98000009, 90002500: 1000167}
    assert sorted(rows) == [(90000002, "alliance_id"), (90000002, "corporation_id"),
                            (90001500, "alliance_id"), (90002500, "alliance_id"),
                            (90002500, "corporation_id")]

    await asyncio.sleep(0.6)
    assert await sweep_if_due(ctx) is None, "the period is over, but not the answers' Expires"
    await asyncio.sleep(1.6)
    assert await sweep_if_due(ctx) == 0, "nothing moved since"
    assert len(esi.batches) == 6


async def test_one_scheduler_holds_the_lock_and_the_next_takes_over_when_it_lets_go(
        fresh_pg_url: str, engine: AsyncEngine) -> None:
    s = settings(database_url=fresh_pg_url, scheduler_poll_s=0.1, scheduler_heartbeat_s=0.2)
    stop = asyncio.Event()
    first = await lock.acquire(s, stop)
    assert first is not None
    second_try = asyncio.create_task(lock.acquire(s, stop))
    await asyncio.sleep(0.5)
    assert not second_try.done(), "a standby waits while the lock is held"
    async with engine.connect() as conn:
        seen = await schedule.leader(conn)
    assert seen is not None and seen.locked and seen.holder == holder_name()
    keeping = asyncio.create_task(first.keep())
    await asyncio.sleep(0.5)
    async with engine.connect() as conn:
        renewed = await schedule.leader(conn)
    assert renewed is not None and renewed.heartbeat_at > seen.heartbeat_at
    keeping.cancel()
    await first.release()
    second = await asyncio.wait_for(second_try, 2)
    assert second is not None
    stop.set()
    assert await lock.acquire(s, stop) is None, "a stopped standby gives up"
    await second.release()
    async with engine.connect() as conn:
        assert await schedule.leader(conn) is None, "a clean stop leaves no lease behind"


async def test_an_unusable_answer_with_an_expires_is_not_asked_again_before_it(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for i in range(90000001, 90002001):
            await put(conn, "character", i, expires_in=HOUR, fetched_ago=60)
    esi, broker = FakeEsi(listed=[99000001], where={90001500: (98000002, None)}, expires_in_s=2.0,
                          broken={1}), StubBroker()
    ctx = Scheduling(as_store(engine), broker, esi, settings(refresh_min_age_affiliation=0.1,
                                                   refresh_min_age_alliance=0.1))
    assert await sweep_if_due(ctx) == 1, "the broken first batch is skipped, the second still asked"
    assert [len(b) for b in esi.batches] == [1000, 1000], "the broken one is not retried before Expires"
    await asyncio.sleep(0.3)
    assert await sweep_if_due(ctx) is None, "nor swept again before it"

    assert await refresh_list_if_due(ctx) is not None
    async with engine.begin() as conn:
        await _expire_list(conn)
    esi.broken = {0}
    with pytest.raises(MalformedResponse):
        await refresh_list_if_due(ctx)
    await asyncio.sleep(0.3)
    assert await refresh_list_if_due(ctx) is None, "the list's Expires moved to the broken answer's"
    assert esi.gets == [None, '"v1"']
