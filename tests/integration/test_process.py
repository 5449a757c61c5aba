"""The job processor over a real PostgreSQL, with the stub broker and a fake ESI source."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from pydantic import TypeAdapter
from sqlalchemy import Select, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.domain import models
from killreport.domain.cache import Fetched, NotModified
from killreport.esi.client import NotSent
from killreport.esi.errors import Deleted, MalformedResponse, NotFound, ServerError
from killreport.esi.validate import validate
from killreport.ids import Kind
from killreport.queue.broker import QUEUE_NAMES
from killreport.queue.messages import Job, encode
from killreport.queue.stub import StubBroker
from killreport.store import tables as t
from killreport.store.interface import JobQueries
from killreport.sync.enqueue import enqueue
from killreport.sync.process import JobProcessor
from tests.stores import as_store, migrated_engine

T = TypeVar("T")

ALLIANCE = {"name": "A 'quoted' <b>", "ticker": "A", "creator_id": 90000001,
            "creator_corporation_id": 98000001, "date_founded": "2015-05-05T00:00:00Z"}


def corp(ceo: int, creator: int) -> dict[str, Any]:
    return {"name": "C", "ticker": "C", "member_count": 3, "ceo_id": ceo, "creator_id": creator,
            "description": "", "friendly_fire": "legal", "home_station_id": 60000001, "shares": 1,
            "state": "active", "type": "player_owned", "war_eligible": True,
            "tax_rates": {"isk": 10.0, "loyalty_point": 0.0}}


def char(corporation_id: int) -> dict[str, Any]:
    return {"name": "P", "birthday": "2010-01-01T00:00:00Z", "bloodline_id": 1, "race_id": 1,
            "corporation_id": corporation_id, "gender": "female", "achievement_score": 1}


class FakeEsi:
    """A tiny universe: one alliance (no executor), two corporations, three characters, one deleted."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.conditional: Counter[str] = Counter()
        self.deleted = {"/characters/90000666"}
        self.expires_in_s = 3600.0
        self.failing: dict[str, Exception] = {}
        self.data: dict[str, Any] = {
            "/alliances": [99000001],
            "/alliances/99000001": ALLIANCE,
            "/alliances/99000001/corporations": [98000001, 98000002],
            "/corporations/98000001": corp(90000001, 90000001),
            "/corporations/98000002": corp(90000002, 90000666),
            "/characters/90000001": char(98000001),
            "/characters/90000002": char(98000002),
        }

    async def _get(self, path: str, schema: TypeAdapter[T] | type[T],
                   etag: str | None = None) -> Fetched[T] | NotModified:
        """Serve `path` as the real client would: a body validated by the strict schema, or a 304."""
        self.calls[path] += 1
        self.conditional[path] += etag is not None
        if path in self.failing:
            raise self.failing[path]
        if path in self.deleted:
            raise Deleted("Character has been deleted!", status=404, path=path)
        if path not in self.data:
            raise NotFound("not found", status=404, path=path)
        now = dt.datetime.now(dt.UTC)
        raw = json.dumps(self.data[path]).encode()
        current = '"' + hashlib.blake2b(raw, digest_size=8).hexdigest() + '"'
        expires = now + dt.timedelta(seconds=self.expires_in_s)
        if etag == current:
            return NotModified(expires_at=expires)
        data = validate(schema, raw, path)
        return Fetched(data=data, expires_at=expires, etag=current, last_modified=now)

    async def alliance_ids(self) -> Fetched[list[int]]:
        got = await self._get("/alliances", models.IdList)
        assert isinstance(got, Fetched)
        return got

    async def alliance(self, alliance_id: int,
                       etag: str | None = None) -> Fetched[models.Alliance] | NotModified:
        return await self._get(f"/alliances/{alliance_id}", models.Alliance, etag)

    async def alliance_corporations(self, alliance_id: int,
                                    etag: str | None = None) -> Fetched[list[int]] | NotModified:
        return await self._get(f"/alliances/{alliance_id}/corporations", models.IdList, etag)

    async def corporation(self, corporation_id: int,
                          etag: str | None = None) -> Fetched[models.Corporation] | NotModified:
        return await self._get(f"/corporations/{corporation_id}", models.Corporation, etag)

    async def character(self, character_id: int,
                        etag: str | None = None) -> Fetched[models.Character] | NotModified:
        return await self._get(f"/characters/{character_id}", models.Character, etag)

    async def corporation_history(self, character_id: int, etag: str | None = None) -> Fetched[
            list[models.CorporationHistoryRecord]] | NotModified:
        path = f"/characters/{character_id}/corporationhistory"
        return await self._get(path, models.CorporationHistory, etag)

    async def alliance_history(self, corporation_id: int, etag: str | None = None) -> Fetched[
            list[models.AllianceHistoryRecord]] | NotModified:
        path = f"/corporations/{corporation_id}/alliancehistory"
        return await self._get(path, models.AllianceHistory, etag)


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test here runs twice: on a fresh PostgreSQL database and on a fresh SQLite file."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("fresh_pg_url"))
    return f"sqlite:///{tmp_path / 'k.db'}"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on `db_url`."""
    async with migrated_engine(db_url) as made:
        yield made


async def run_until_idle(broker: StubBroker, processor: JobProcessor) -> None:
    """Handle deliveries until nothing is queued or retrying."""
    async with broker.consume(list(QUEUE_NAMES.values()), prefetch=1) as feed:
        while True:
            idle = not any(broker.queues[q] for q in QUEUE_NAMES.values())
            if idle and broker.release_retries(all_=True) == 0:
                return
            await processor.handle(await anext(feed))


async def scalar(engine: AsyncEngine, sql: str | Select[Any]) -> Any:
    """One value; a Core query where a time is read (SQLite keeps times as epoch seconds)."""
    async with engine.connect() as conn:
        return (await conn.execute(text(sql) if isinstance(sql, str) else sql)).scalar_one()


async def test_cascade_stores_everything_and_a_second_pass_requests_nothing(engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(), StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=60)
    assert await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False) == 1
    await run_until_idle(broker, processor)
    assert await scalar(engine, "SELECT count(*) FROM alliances WHERE executor_corporation_id IS NULL") == 1
    assert await scalar(engine, "SELECT name FROM alliances") == ALLIANCE["name"]
    assert await scalar(engine, "SELECT count(*) FROM corporations") == 2
    assert await scalar(engine, "SELECT count(*) FROM characters") == 2
    assert await scalar(engine, "SELECT count(*) FROM character_tombstones") == 1
    assert await scalar(engine, "SELECT count(*) FROM sync_pending") == 0
    assert all(d.acks == 1 for d in broker.deliveries)
    first = sum(esi.calls.values())
    assert first == 7

    await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False)
    await run_until_idle(broker, processor)
    assert sum(esi.calls.values()) == first, "a fresh entity was requested again"
    await enqueue(as_store(engine), broker, "character", [90000666], skip_fresh=False)
    assert not broker.queues[QUEUE_NAMES["character"]], "a tombstoned character was queued"


async def test_transient_failures_retry_then_dead_letter_with_reason(engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(), StubBroker()
    esi.failing["/corporations/98000002"] = ServerError("Bad gateway", status=502)
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=3, claim_ttl_s=60)
    await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False)
    await run_until_idle(broker, processor)
    assert esi.calls["/corporations/98000002"] == 3
    [letter] = broker.dead
    assert (letter.kind, letter.entity_id, letter.attempts) == ("corporation", 98000002, 3)
    assert "Bad gateway" in letter.last_error
    reason = await scalar(engine, "SELECT reason FROM sync_failures WHERE id = 98000002")
    assert "transient failures exhausted" in reason
    assert await scalar(engine, "SELECT count(*) FROM sync_pending") == 0

    del esi.failing["/corporations/98000002"]
    assert await broker.replay_dead("corporation", None) == 1
    await run_until_idle(broker, processor)
    assert await scalar(engine, "SELECT count(*) FROM corporations WHERE id = 98000002") == 1
    assert await scalar(engine, "SELECT count(*) FROM sync_failures") == 0


async def test_not_found_is_recorded_once_and_never_retried(engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(), StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=60)
    await enqueue(as_store(engine), broker, "corporation", [98000999], skip_fresh=False)
    await run_until_idle(broker, processor)
    assert esi.calls["/corporations/98000999"] == 1
    failure = t.sync_failures.c
    assert await scalar(engine, select(failure.permanent).where(failure.id == 98000999)) is True
    assert not broker.dead


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"v":1,"kind":"ship","id":1,"attempt":0}',
                                  b'{"v":1,"kind":"alliance","id":"99000001","attempt":0}', b"\xff"])
async def test_malformed_messages_are_dead_lettered_and_processing_goes_on(
        engine: AsyncEngine, body: bytes) -> None:
    esi, broker = FakeEsi(), StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=60)
    await broker.publish(QUEUE_NAMES["alliance"], [body])
    await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False)
    await run_until_idle(broker, processor)
    [letter] = broker.dead
    assert letter.body == body and letter.reason.startswith("malformed message")
    assert await scalar(engine, "SELECT count(*) FROM characters") == 2


async def test_a_claimed_entity_is_deferred_not_fetched_twice(engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(), StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=60)
    store = as_store(engine)
    async with store.begin() as conn:
        assert await store.jobs.claim_and_read(conn, "character", 90000001, ttl_s=60) is not None
    await broker.publish(QUEUE_NAMES["character"], [encode(Job(kind="character", id=90000001))])
    async with broker.consume([QUEUE_NAMES["character"]], prefetch=1) as feed:
        await processor.handle(await anext(feed))
    assert esi.calls["/characters/90000001"] == 0
    assert broker.retrying(QUEUE_NAMES["character"]) == [encode(Job(kind="character", id=90000001))]


async def expire_everything(engine: AsyncEngine) -> None:
    """Make every stored copy stale, as if its Expires had passed."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    async with engine.begin() as conn:
        for table in t.ENTITY_TABLES.values():
            await conn.execute(update(table).values(expires_at=past))
        await conn.execute(update(t.alliances).values(members_expires_at=past))


async def rows_of(engine: AsyncEngine, table: str) -> dict[int, dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(t.metadata.tables[table]))
        return {r["id"]: dict(r) for r in rows.mappings()}


async def logged(engine: AsyncEngine) -> list[tuple[str, int, str, Any, Any]]:
    async with engine.connect() as conn:
        c = t.changes.c
        query = select(c.kind, c.entity_id, c.field, c.old_value, c.new_value).order_by(c.id)
        return [tuple(r) for r in (await conn.execute(query)).all()]


async def test_a_refresh_after_expires_is_conditional_and_a_304_moves_only_expires_and_checked(
        engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(), StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=60)
    await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False)
    await run_until_idle(broker, processor)
    await expire_everything(engine)
    before = {table: await rows_of(engine, table) for table in ("alliances", "corporations", "characters")}
    esi.calls.clear()
    await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False)
    await run_until_idle(broker, processor)
    assert esi.conditional == esi.calls and sum(esi.calls.values()) == 6, esi.calls
    for table, old in before.items():
        new = await rows_of(engine, table)
        assert set(new) == set(old)
        for entity_id, row in new.items():
            moved = {column for column in row if row[column] != old[entity_id][column]}
            expected = {"expires_at", "checked_at"} | (
                {"members_expires_at", "members_checked_at"} if table == "alliances" else set())
            assert moved == expected, (table, entity_id, moved)
    assert await logged(engine) == [] and await scalar(engine, "SELECT count(*) FROM sync_pending") == 0


async def test_changed_answers_are_stored_and_logged_field_by_field(engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(), StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=60)
    await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False)
    await run_until_idle(broker, processor)
    assert await logged(engine) == [], "a first sighting is no change"
    esi.data["/alliances/99000001"] = {**ALLIANCE, "executor_corporation_id": 98000002}
    esi.data["/alliances/99000001/corporations"] = [98000002]
    esi.data["/corporations/98000002"] = {**corp(90000002, 90000666), "state": "closed", "ceo_id": 1}
    esi.data["/characters/90000001"] = char(98000002)
    del esi.data["/characters/90000002"]
    esi.deleted.add("/characters/90000002")
    await expire_everything(engine)
    refreshed: list[tuple[Kind, list[int]]] = [
        ("alliance", [99000001]), ("corporation", [98000001, 98000002]), ("character", [90000001, 90000002])]
    for kind, ids in refreshed:
        await enqueue(as_store(engine), broker, kind, ids, skip_fresh=False)
    await run_until_idle(broker, processor)
    assert sorted(await logged(engine)) == sorted([
        ("alliance", 99000001, "executor_corporation_id", None, 98000002),
        ("alliance", 99000001, "corporations", [98000001, 98000002], [98000002]),
        ("corporation", 98000002, "ceo_id", 90000002, 1),
        ("corporation", 98000002, "state", "active", "closed"),
        ("character", 90000001, "corporation_id", 98000001, 98000002),
        ("character", 90000002, "deleted", False, True)])
    characters = await rows_of(engine, "characters")
    assert set(characters) == {90000001, 90000002}, "a deleted character's row is kept"
    assert characters[90000001]["corporation_id"] == 98000002
    assert await scalar(engine, "SELECT count(*) FROM character_tombstones WHERE id = 90000002") == 1


async def test_an_alliance_answer_that_arrived_is_kept_when_the_other_fails(engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(), StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=60)
    await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False)
    await run_until_idle(broker, processor)
    await expire_everything(engine)
    esi.calls.clear()
    esi.data["/alliances/99000001"] = {**ALLIANCE, "ticker": "NEW"}
    esi.failing["/alliances/99000001/corporations"] = ServerError("Bad gateway", status=502)
    await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False)
    async with broker.consume([QUEUE_NAMES["alliance"]], prefetch=1) as feed:
        await processor.handle(await anext(feed))
    assert await scalar(engine, "SELECT ticker FROM alliances") == "NEW", "the detail that arrived is stored"
    assert broker.retrying(QUEUE_NAMES["alliance"]), "the failure still sends the job to a retry tier"
    del esi.failing["/alliances/99000001/corporations"]
    await run_until_idle(broker, processor)
    assert esi.calls["/alliances/99000001"] == 1, "the retry asked for the stored detail again"
    assert esi.calls["/alliances/99000001/corporations"] == 2
    assert await scalar(engine, "SELECT count(*) FROM sync_pending") == 0


async def test_a_new_alliance_asks_for_its_members_only_once_its_row_is_stored(engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(), StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=60)
    esi.failing["/alliances/99000001"] = ServerError("Bad gateway", status=502)
    await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False)
    async with broker.consume([QUEUE_NAMES["alliance"]], prefetch=1) as feed:
        await processor.handle(await anext(feed))
    assert esi.calls["/alliances/99000001/corporations"] == 0, "a member list with no row to hold its Expires"
    del esi.failing["/alliances/99000001"]
    await run_until_idle(broker, processor)
    assert esi.calls["/alliances/99000001/corporations"] == 1
    assert await scalar(engine, "SELECT count(*) FROM alliance_corporations") == 2


class LostReplies:
    """The store's job queries, but the first `lost` store_and_finish replies never arrive (the
    commit happened): what a connection dropped between COMMIT and its answer looks like."""

    def __init__(self, real: JobQueries, lost: int) -> None:
        self._real, self.lost = real, lost

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def store_and_finish(self, *args: Any, **kwargs: Any) -> list[int]:
        added = await self._real.store_and_finish(*args, **kwargs)
        if self.lost:
            self.lost -= 1
            raise OperationalError("SELECT ...", {}, ConnectionResetError("connection lost"))
        return added


async def test_an_answer_in_hand_waits_for_the_database_instead_of_asking_esi_again(
        engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(), StubBroker()
    store = as_store(engine)
    flaky = dataclasses.replace(store, jobs=cast(JobQueries, LostReplies(store.jobs, lost=2)))
    processor = JobProcessor(flaky, broker, esi, max_attempts=5, claim_ttl_s=60)
    await enqueue(as_store(engine), broker, "corporation", [98000001], skip_fresh=False)
    await run_until_idle(broker, processor)
    assert esi.calls["/corporations/98000001"] == 1, "the answer in hand was thrown away"
    assert esi.calls["/characters/90000001"] == 1, "the child queued by the unseen commit got no message"
    assert await scalar(engine, "SELECT count(*) FROM sync_pending") == 0


async def test_an_unusable_refresh_keeps_the_copy_and_its_expires_and_asks_again_only_after_it(
        engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(), StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=60)
    await enqueue(as_store(engine), broker, "corporation", [98000001], skip_fresh=False)
    await run_until_idle(broker, processor)
    await expire_everything(engine)
    before = (await rows_of(engine, "corporations"))[98000001]
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    esi.failing["/corporations/98000001"] = MalformedResponse(
        "Invalid JSON", status=200, path="/corporations/98000001", expires_at=soon)
    await enqueue(as_store(engine), broker, "corporation", [98000001], skip_fresh=False)
    async with broker.consume([QUEUE_NAMES["corporation"]], prefetch=1) as feed:
        await processor.handle(await anext(feed))
    kept = (await rows_of(engine, "corporations"))[98000001]
    assert {c for c in kept if kept[c] != before[c]} == {"expires_at"} and kept["expires_at"] == soon
    del esi.failing["/corporations/98000001"]
    await run_until_idle(broker, processor)  # the retry bounces off the held claim until then
    assert esi.calls["/corporations/98000001"] == 3 and dt.datetime.now(dt.UTC) >= soon
    assert esi.conditional["/corporations/98000001"] == 2, "the unchanged copy is asked with its ETag"
    assert not broker.dead and await scalar(engine, "SELECT count(*) FROM sync_pending") == 0


async def test_a_first_sighting_with_an_unusable_answer_is_held_until_its_expires(
        engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(), StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=60)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    esi.failing["/characters/90000001"] = ServerError("Bad gateway", status=502, path="/characters/90000001",
                                                         expires_at=soon)
    await enqueue(as_store(engine), broker, "character", [90000001], skip_fresh=False)
    async with broker.consume([QUEUE_NAMES["character"]], prefetch=1) as feed:
        await processor.handle(await anext(feed))
    assert await scalar(engine, select(t.sync_pending.c.claimed_until)) == soon
    del esi.failing["/characters/90000001"]
    await run_until_idle(broker, processor)  # the retry bounces off the held claim until then
    assert esi.calls["/characters/90000001"] == 2 and dt.datetime.now(dt.UTC) >= soon
    assert await scalar(engine, "SELECT count(*) FROM characters") == 1


async def test_a_job_whose_claim_ran_out_before_sending_goes_back_in_line_at_once_without_an_attempt(
        engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(), StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=60)
    esi.failing["/characters/90000001"] = NotSent("not sent", path="/characters/90000001")
    await enqueue(as_store(engine), broker, "character", [90000001], skip_fresh=False)
    async with broker.consume([QUEUE_NAMES["character"]], prefetch=1) as feed:
        await processor.handle(await anext(feed))
    # Not parked in a retry tier, and its claim given back: the next delivery does the job at once.
    assert list(broker.queues[QUEUE_NAMES["character"]]) == [encode(Job(kind="character", id=90000001))]
    assert broker.retrying(QUEUE_NAMES["character"]) == []
    assert await scalar(engine, "SELECT attempts FROM sync_pending") == 0
    assert await scalar(engine, select(t.sync_pending.c.claimed_until)) is None
    del esi.failing["/characters/90000001"]
    await run_until_idle(broker, processor)
    assert esi.calls["/characters/90000001"] == 2 and not broker.dead
    assert await scalar(engine, "SELECT count(*) FROM characters") == 1


class ClaimedMeanwhile(FakeEsi):
    """Waits past the claim, lets another job claim the entity, then says the request was not sent."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self.engine = engine

    async def character(self, character_id: int, etag: str | None = None) -> Any:
        await asyncio.sleep(0.3)  # the processor's claim (0.2 s) runs out
        async with as_store(self.engine).autocommit() as conn:
            assert await as_store(self.engine).jobs.claim_and_read(conn, "character", character_id, 60)
        raise NotSent("not sent", path=f"/characters/{character_id}")


async def test_a_claim_that_ran_out_while_waiting_is_not_given_back_it_may_be_another_jobs(
        engine: AsyncEngine) -> None:
    esi, broker = ClaimedMeanwhile(engine), StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=0.2)
    await enqueue(as_store(engine), broker, "character", [90000001], skip_fresh=False)
    async with broker.consume([QUEUE_NAMES["character"]], prefetch=1) as feed:
        await processor.handle(await anext(feed))
    assert list(broker.queues[QUEUE_NAMES["character"]]) == [encode(Job(kind="character", id=90000001))]
    held = await scalar(engine, select(t.sync_pending.c.claimed_until))
    assert held is not None and held > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=50)


async def test_a_new_alliances_unusable_member_list_is_asked_again_only_after_its_expires(
        engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(), StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=60)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    path = "/alliances/99000001/corporations"
    esi.failing[path] = MalformedResponse("EOF while parsing", status=200, path=path, expires_at=soon)
    await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False)
    async with broker.consume([QUEUE_NAMES["alliance"]], prefetch=1) as feed:
        await processor.handle(await anext(feed))
    assert await scalar(engine, select(t.alliances.c.members_expires_at)) == soon
    del esi.failing[path]
    await run_until_idle(broker, processor)
    assert esi.calls[path] == 2 and esi.calls["/alliances/99000001"] == 1 and dt.datetime.now(dt.UTC) >= soon
    assert await scalar(engine, "SELECT count(*) FROM alliance_corporations") == 2


async def test_when_both_alliance_answers_are_unusable_the_retry_waits_for_the_later_expires(
        engine: AsyncEngine) -> None:
    esi, broker = FakeEsi(), StubBroker()
    processor = JobProcessor(as_store(engine), broker, esi, max_attempts=5, claim_ttl_s=60)
    await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False)
    await run_until_idle(broker, processor)
    await expire_everything(engine)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sooner, later = now + dt.timedelta(minutes=1), now + dt.timedelta(minutes=2)
    for path, until in (("/alliances/99000001", sooner), ("/alliances/99000001/corporations", later)):
        esi.failing[path] = MalformedResponse("Invalid JSON", status=200, path=path, expires_at=until)
    await enqueue(as_store(engine), broker, "alliance", [99000001], skip_fresh=False)
    async with broker.consume([QUEUE_NAMES["alliance"]], prefetch=1) as feed:
        await processor.handle(await anext(feed))
    assert await scalar(engine, select(t.sync_pending.c.claimed_until)) == later
    assert await scalar(engine, select(t.alliances.c.expires_at)) == sooner
    assert await scalar(engine, select(t.alliances.c.members_expires_at)) == later
