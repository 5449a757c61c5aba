"""The history resource on the job path, on PostgreSQL and on SQLite, with the stub broker and a fake
ESI source: fetched once wanted and only then, stored with its intervals, a 304 moving only its
Expires, an unreadable record a malformed answer that stores nothing, HISTORY=false asking nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.ids import Kind
from killreport.queue.broker import QUEUE_NAMES
from killreport.queue.messages import Job, encode
from killreport.queue.stub import StubBroker
from killreport.store import tables as t
from killreport.sync.enqueue import enqueue
from killreport.sync.process import JobProcessor
from tests.integration.test_process import FakeEsi, db_url, engine, run_until_idle, scalar
from tests.stores import as_store

__all__ = ["db_url", "engine"]  # the fixtures, both dialects

CHARACTER_HISTORY = [
    {"record_id": 2, "start_date": "2020-02-01T00:00:00Z", "corporation_id": 98000001},
    {"record_id": 1, "start_date": "2019-01-01T00:00:00Z", "corporation_id": 1000125}]
CORPORATION_HISTORY = [
    {"record_id": 2, "start_date": "2021-03-01T00:00:00Z", "alliance_id": 99000001},
    {"record_id": 1, "start_date": "2020-01-01T00:00:00Z"}]


class HistoryEsi(FakeEsi):
    """FakeEsi's universe, with the histories of every character and corporation in it (FakeEsi serves
    them from `data` as it serves every route)."""

    def __init__(self) -> None:
        super().__init__()
        self.data["/characters/90000001/corporationhistory"] = CHARACTER_HISTORY
        self.data["/characters/90000002/corporationhistory"] = [
            {"record_id": 3, "start_date": "2020-02-01T00:00:00Z", "corporation_id": 98000002}]
        for corporation in (98000001, 98000002):
            self.data[f"/corporations/{corporation}/alliancehistory"] = CORPORATION_HISTORY

    def history_calls(self) -> dict[str, int]:
        """History requests so far, by path."""
        return {p: n for p, n in self.calls.items() if p.endswith("history")}


async def _cascade(engine: AsyncEngine, esi: HistoryEsi, *, history: bool = True) -> None:
    """The cascade from the alliance: every entity stored, first sightings, no history yet."""
    broker = StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=3, claim_ttl_s=60, history=history)
    await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False)
    await run_until_idle(broker, processor)


async def _synced(engine: AsyncEngine, esi: HistoryEsi, *, history: bool = True) -> None:
    """The cascade, then every stored character and corporation queued again (as the scheduler queues
    one whose history is due)."""
    await _cascade(engine, esi, history=history)
    assert esi.history_calls() == {}, "a first sighting stores the entity only"
    await _again(engine, esi, history=history)


async def _again(engine: AsyncEngine, esi: HistoryEsi, *, history: bool = True) -> None:
    """Every stored character and corporation queued and worked."""
    broker, store = StubBroker(), as_store(engine)
    processor = JobProcessor(store, broker, esi, max_attempts=3, claim_ttl_s=60, history=history)
    again: list[tuple[Kind, list[int]]] = [("corporation", [98000001, 98000002]),
                                           ("character", [90000001, 90000002])]
    for kind, ids in again:
        await enqueue(store, broker, kind, ids, skip_fresh=False)
    await run_until_idle(broker, processor)


async def _intervals(engine: AsyncEngine, kind: Kind, entity_id: int) -> list[Any]:
    store = as_store(engine)
    async with store.connect() as conn:
        read = store.history.character_history if kind == "character" else store.history.corporation_history
        return [tuple(r.values())[:3] for r in await read(conn, entity_id)]


async def test_a_wanted_history_is_fetched_once_and_kept_as_intervals(engine: AsyncEngine) -> None:
    esi = HistoryEsi()
    await _synced(engine, esi)
    assert esi.history_calls() == {"/characters/90000001/corporationhistory": 1,
                                   "/characters/90000002/corporationhistory": 1,
                                   "/corporations/98000001/alliancehistory": 1,
                                   "/corporations/98000002/alliancehistory": 1}
    utc = dt.UTC
    assert await _intervals(engine, "character", 90000001) == [
        (98000001, dt.datetime(2020, 2, 1, tzinfo=utc), None),
        (1000125, dt.datetime(2019, 1, 1, tzinfo=utc), dt.datetime(2020, 2, 1, tzinfo=utc))]
    assert await _intervals(engine, "corporation", 98000002) == [
        (99000001, dt.datetime(2021, 3, 1, tzinfo=utc), None),
        (None, dt.datetime(2020, 1, 1, tzinfo=utc), dt.datetime(2021, 3, 1, tzinfo=utc))]
    assert await scalar(engine, "SELECT count(*) FROM characters WHERE history_wanted") == 0
    await _again(engine, esi)
    assert sum(esi.history_calls().values()) == 4, "no longer wanted: not asked again"


async def test_a_history_wanted_again_is_asked_with_its_etag_and_a_304_moves_only_expires(
        engine: AsyncEngine) -> None:
    esi = HistoryEsi()
    await _synced(engine, esi)
    c = t.characters.c
    async with engine.begin() as conn:
        before = (await conn.execute(select(c.history_fetched_at, c.history_expires_at)
                                     .where(c.id == 90000001))).one()
        await conn.execute(update(t.characters).where(c.id == 90000001).values(
            history_wanted=True, history_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    await _again(engine, esi)
    path = "/characters/90000001/corporationhistory"
    assert (esi.calls[path], esi.conditional[path]) == (2, 1)
    async with engine.connect() as conn:
        after = (await conn.execute(select(c.history_fetched_at, c.history_expires_at, c.history_wanted)
                                    .where(c.id == 90000001))).one()
    assert after.history_fetched_at == before.history_fetched_at and after.history_expires_at > before[1]
    assert not after.history_wanted


async def test_an_unreadable_record_is_a_malformed_answer_that_stores_nothing(engine: AsyncEngine) -> None:
    esi = HistoryEsi()
    await _cascade(engine, esi)
    path = "/corporations/98000001/alliancehistory"
    esi.data[path] = [{"record_id": 9, "start_date": "2020-13-45T00:00:00Z", "alliance_id": 99000001}]
    esi.expires_in_s = 0.2  # each retry waits for the last answer's Expires: kept short here
    started = dt.datetime.now(dt.UTC)
    await _again(engine, esi)
    assert esi.calls[path] == 3, "retried through the tiers, then dead-lettered"
    reason = await scalar(engine, "SELECT reason FROM sync_failures WHERE id = 98000001")
    assert "history record 9" in reason and "not a date" in reason
    assert await _intervals(engine, "corporation", 98000001) == []
    assert await scalar(engine, "SELECT count(*) FROM alliance_history WHERE corporation_id = 98000001") == 0
    expires = await scalar(engine, select(t.corporations.c.history_expires_at).where(
        t.corporations.c.id == 98000001))
    assert expires is not None and expires > started, "the unusable answer's Expires is kept"
    co = t.corporations.c
    assert await scalar(engine, select(co.history_wanted).where(co.id == 98000001)), "still wanted"


async def test_a_refresh_that_moves_a_character_wants_its_history_again(engine: AsyncEngine) -> None:
    esi = HistoryEsi()
    await _synced(engine, esi)
    esi.data["/characters/90000001"] = {**esi.data["/characters/90000001"], "corporation_id": 98000002}
    c = t.characters.c
    async with engine.begin() as conn:
        await conn.execute(update(t.characters).where(c.id == 90000001).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    broker = StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=3, claim_ttl_s=60)
    await enqueue(as_store(engine), broker, "character", [90000001], skip_fresh=False)
    await run_until_idle(broker, processor)
    assert await scalar(engine, select(c.history_wanted).where(c.id == 90000001))


async def test_history_false_asks_for_none(engine: AsyncEngine) -> None:
    esi = HistoryEsi()
    await _synced(engine, esi, history=False)
    assert esi.history_calls() == {}
    assert await scalar(engine, "SELECT count(*) FROM employment_intervals") == 0


class CrashingBroker(StubBroker):
    """A broker whose publisher dies after each commit: character messages never go out while `losing`."""

    losing = True

    async def publish(self, queue: str, bodies: Sequence[bytes]) -> None:
        """Drop a character job's messages while losing; publish the rest."""
        if not (self.losing and queue == QUEUE_NAMES["character"]):
            await super().publish(queue, bodies)


async def test_a_redelivered_job_that_fetches_only_a_history_still_publishes_its_pending_children(
        engine: AsyncEngine) -> None:
    # The first try stored the corporations and added their characters to the pending set, then died
    # before publishing them; the redelivery finds each corporation fresh but its history wanted.
    esi, broker = HistoryEsi(), CrashingBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=3, claim_ttl_s=60)
    await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False)
    await run_until_idle(broker, processor)
    assert await scalar(engine, "SELECT count(*) FROM characters") == 0
    # 90000001, 90000002 and the deleted 90000666, named by the corporations only.
    assert await scalar(engine, "SELECT count(*) FROM sync_pending WHERE kind = 'character'") == 3
    broker.losing = False
    await broker.publish(QUEUE_NAMES["corporation"], [encode(Job(kind="corporation", id=i))
                                                      for i in (98000001, 98000002)])
    await run_until_idle(broker, processor)
    assert esi.history_calls() == {"/corporations/98000001/alliancehistory": 1,
                                   "/corporations/98000002/alliancehistory": 1}
    assert await scalar(engine, "SELECT count(*) FROM characters") == 2
    assert await scalar(engine, "SELECT count(*) FROM character_tombstones") == 1
    assert await scalar(engine, "SELECT count(*) FROM sync_pending") == 0
