"""The store against a real PostgreSQL: migrations, idempotent upserts, hostile strings, the pending set."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from killreport.changes import Change
from killreport.config import sqlalchemy_url
from killreport.domain import models
from killreport.esi.validate import validate
from killreport.ids import Kind
from killreport.store import changes as change_log
from killreport.store import entities, jobs, migrate, pending, references, rows
from killreport.store import tables as t
from killreport.store.facts import CacheFacts, Revalidated
from killreport.store.references import AllianceReferences, CorporationReferences

M = TypeVar("M", models.Alliance, models.Corporation, models.Character)

HOSTILE = [
    "it's \"quoted\" \\ back\\slash",
    "<script>alert('x')</script>&amp;",
    "emoji 🚀🔥 and CJK 漢字かな한국어",
    "tab\there\nnew line\r\n",
    "'; DROP TABLE alliances; --",
    "",
    "long " * 2000,
]
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
ALLIANCE = {"name": "A", "ticker": "A", "creator_id": 90000001, "creator_corporation_id": 98000001,
            "date_founded": "2015-05-05T00:00:00Z"}


def _valid(model: type[M], body: dict[str, Any]) -> M:
    """The body as the client would hand it over: JSON, validated by the strict model."""
    return validate(model, json.dumps(body).encode(), "/test")


def _corp(name: str, description: str, **more: Any) -> models.Corporation:
    return _valid(models.Corporation, {
        "name": name, "ticker": "T'X", "member_count": 0, "ceo_id": 1, "creator_id": 90000001,
        "description": description, "friendly_fire": "legal", "home_station_id": 60000001,
        "shares": 1000, "state": "closed", "type": "player_owned", "war_eligible": False,
        "tax_rates": {"isk": 0.1, "loyalty_point": 0.0}, "date_founded": "2010-01-02T03:04:05Z", **more})


def _facts(expires_in_s: float) -> CacheFacts:
    now = dt.datetime.now(dt.UTC)
    return CacheFacts(fetched_at=now, expires_at=now + dt.timedelta(seconds=expires_in_s),
                      etag='"abc"', last_modified=now)


async def test_hostile_strings_round_trip_byte_for_byte(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for i, s in enumerate(HOSTILE):
            await jobs.store(conn, 98000000 + i, _corp(s, s[::-1], url=s,
                                                            palette={"main_color": s}), _facts(60))
    async with engine.connect() as conn:
        c = t.corporations.c
        got = (await conn.execute(select(c.id, c.name, c.description, c.url, c.palette_main_color))).all()
    assert {r.id: tuple(r[1:]) for r in got} == {
        98000000 + i: (s, s[::-1], s, s) for i, s in enumerate(HOSTILE)}


async def test_upsert_is_idempotent_and_replaces(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for _ in range(2):
            await jobs.store(conn, 98000001, _corp("first", "d"), _facts(60))
        await jobs.store(conn, 98000001, _corp("second", "d", alliance_id=99000001), _facts(60))
    async with engine.connect() as conn:
        got = (await conn.execute(select(t.corporations))).mappings().all()
    assert len(got) == 1
    assert got[0]["name"] == "second"
    assert got[0]["alliance_id"] == 99000001
    assert got[0]["tax_rate_isk"] == 0.1
    assert got[0]["date_founded"] == dt.datetime(2010, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


async def test_store_and_finish_stores_and_clears_pending_and_failure_idempotently(
        engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await jobs.add(conn, "corporation", [98000007, 98000008], skip_fresh=False)
        await jobs.record_failure(conn, "corporation", 98000007, status=502, reason="earlier",
                                      attempts=1, permanent=False)
        for name in ("first", "second"):
            await jobs.store_and_finish(conn, 98000007, _corp(name, "d"), _facts(60))
    async with engine.connect() as conn:
        names = (await conn.execute(select(t.corporations.c.name))).scalars().all()
        left = (await conn.execute(select(t.sync_pending.c.id))).scalars().all()
        failures = (await conn.execute(select(t.sync_failures.c.id))).scalars().all()
    assert (names, left, failures) == (["second"], [98000008], [])


async def test_store_and_finish_queues_only_children_not_pending_fresh_or_deleted(
        engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await jobs.add(conn, "corporation", [98000007], skip_fresh=False)
        await jobs.add(conn, "character", [90000001], skip_fresh=False)  # already pending
        await jobs.tombstone(conn, 90000002, "Character has been deleted!")
        added = await jobs.store_and_finish(
            conn, 98000007, _corp("c", "d"), _facts(60),
            ("character", [90000001, 90000002, 90000003, 90000003]))
        assert added == [90000003]
        assert await jobs.among(conn, "corporation", [98000007]) == []
        assert sorted(await jobs.among(conn, "character", [90000001, 90000002, 90000003])) == [
            90000001, 90000003]


async def test_alliance_without_executor_stores_with_members(engine: AsyncEngine) -> None:
    body = {"name": "No Exec", "ticker": "NX", "creator_id": 90000001,
            "creator_corporation_id": 98000001, "date_founded": "2015-05-05T00:00:00Z"}
    alliance = _valid(models.Alliance, body)
    async with engine.begin() as conn:
        await jobs.store(conn, 99000001, alliance, _facts(60))
        await jobs.replace_members(conn, 99000001, [], _facts(60))
        state = await jobs.claim_and_read(conn, "alliance", 99000001, ttl_s=60)
    assert state == entities.Stored(
        fresh=True, members=(), members_fresh=True,
        references=AllianceReferences(creator_id=90000001, creator_corporation_id=98000001,
                                      executor_corporation_id=None),
        row=rows.row_of(alliance), etag='"abc"', members_etag='"abc"')


async def test_stale_and_missing_rows_are_not_fresh(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await jobs.store(conn, 98000002, _corp("a", "b"), _facts(-1))
        stale = await jobs.claim_and_read(conn, "corporation", 98000002, ttl_s=60)
        missing = await jobs.claim_and_read(conn, "corporation", 98000003, ttl_s=60)
    assert stale == entities.Stored(fresh=False, references=CorporationReferences(ceo_id=1,
                                                                                 creator_id=90000001),
                                    row=rows.row_of(_corp("a", "b")), etag='"abc"', history_due=True)
    assert missing == entities.Stored(fresh=False)


async def test_pending_dedups_and_skips_fresh_and_tombstoned(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await jobs.store(conn, 98000010, _corp("f", ""), _facts(600))
        await jobs.tombstone(conn, 90000666, "deleted")
        assert await jobs.add(conn, "corporation", [98000010, 98000011], skip_fresh=True) == [98000011]
        assert await jobs.add(conn, "corporation", [98000011], skip_fresh=True) == []
        assert await jobs.add(conn, "character", [90000666, 90000001], skip_fresh=False) == [90000001]
        assert await jobs.unpublished(conn, "corporation") == [98000011]
        await jobs.mark_published(conn, "corporation", [98000011])
        assert await jobs.unpublished(conn, "corporation") == []


async def test_claim_is_exclusive_until_released_or_expired(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        first = await jobs.claim_and_read(conn, "character", 90000001, ttl_s=60)
        second = await jobs.claim_and_read(conn, "character", 90000001, ttl_s=60)
        assert first == entities.Stored(fresh=False) and second is None
        await jobs.release(conn, "character", 90000001, attempts=2)
        assert (await pending.counts(conn))["character"] == {"pending": 1, "in_flight": 0, "retrying": 1}
        assert await jobs.claim_and_read(conn, "character", 90000001, ttl_s=0.01) is not None
    await asyncio.sleep(0.05)
    async with engine.begin() as conn:
        assert await jobs.claim_and_read(conn, "character", 90000001, ttl_s=60) is not None
        counts = await pending.counts(conn)
        assert counts["character"] == {"pending": 1, "in_flight": 1, "retrying": 0}
        await jobs.finish(conn, "character", 90000001)
        assert await pending.counts(conn) == {}


async def test_claim_and_read_reads_references_and_claims_missing_entities_too(
        engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await jobs.store(conn, 98000009, _corp("c", "d", ceo_id=90000005), _facts(60))
        got = await jobs.claim_and_read(conn, "corporation", 98000009, ttl_s=60)
        assert got == entities.Stored(fresh=True, references=CorporationReferences(
            ceo_id=90000005, creator_id=90000001), row=rows.row_of(_corp("c", "d", ceo_id=90000005)),
            etag='"abc"', history_due=True)  # first stored: its alliance history is wanted
        assert await jobs.claim_and_read(conn, "corporation", 98000009, ttl_s=60) is None
        missing = await jobs.claim_and_read(conn, "corporation", 98000010, ttl_s=60)
        assert missing == entities.Stored(fresh=False)
        assert (await pending.counts(conn))["corporation"]["in_flight"] == 2


async def test_tombstone_keeps_the_character_row(engine: AsyncEngine) -> None:
    body = {"name": "gone", "birthday": "2010-01-01T00:00:00Z", "bloodline_id": 1, "race_id": 1,
            "corporation_id": 1000001, "gender": "male", "achievement_score": 0}
    async with engine.begin() as conn:
        await jobs.store(conn, 90000002, _valid(models.Character, body), _facts(60))
        await jobs.tombstone(conn, 90000002, "Character has been deleted!")
        await jobs.tombstone(conn, 90000002, "Character has been deleted!")
        state = await jobs.claim_and_read(conn, "character", 90000002, ttl_s=60)
        n = (await conn.execute(text("SELECT count(*) FROM characters"))).scalar_one()
    assert state == entities.Stored(fresh=True, tombstoned=True) and n == 1


async def test_http_cache_serves_an_id_list_only_while_fresh(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        assert await jobs.fresh_ids(conn, "/alliances") is None
        await jobs.put_ids(conn, "/alliances", [99000001, 99000002], _facts(60))
        assert await jobs.fresh_ids(conn, "/alliances") == [99000001, 99000002]
        await jobs.put_ids(conn, "/alliances", [99000003], _facts(-1))
        assert await jobs.fresh_ids(conn, "/alliances") is None


async def test_referenced_ids_are_what_stored_alliances_and_corporations_name(engine: AsyncEngine) -> None:
    alliance = {"name": "A", "ticker": "A", "creator_id": 90000001, "creator_corporation_id": 98000001,
                "executor_corporation_id": 98000002, "date_founded": "2015-05-05T00:00:00Z"}
    async with engine.begin() as conn:
        await jobs.store(conn, 99000001, _valid(models.Alliance, alliance), _facts(60))
        await jobs.replace_members(conn, 99000001, [98000002, 98000003], _facts(60))
        await jobs.store(conn, 98000003, _corp("c", "d", ceo_id=90000005), _facts(60))
        assert sorted(await references.referenced_ids(conn, "corporation")) == [
            98000001, 98000002, 98000003]
        assert sorted(await references.referenced_ids(conn, "character")) == [90000001, 90000005]
        assert await references.referenced_ids(conn, "alliance") == []


async def test_upgrading_from_the_first_revision_keeps_the_data(fresh_pg_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, fresh_pg_url, "0001")
    eng = create_async_engine(sqlalchemy_url(fresh_pg_url))
    async with eng.begin() as conn:
        await conn.execute(text("INSERT INTO character_tombstones VALUES (90000001, now(), 'gone')"))
    await asyncio.to_thread(migrate.upgrade, fresh_pg_url)
    async with eng.connect() as conn:
        kept = (await conn.execute(text("SELECT id FROM character_tombstones"))).scalars().all()
        head = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    await eng.dispose()
    assert kept == [90000001] and head != "0001"


async def _row(engine: AsyncEngine, kind: Kind, entity_id: int) -> dict[str, Any]:
    table = t.ENTITY_TABLES[kind]
    async with engine.connect() as conn:
        return dict((await conn.execute(select(table).where(table.c.id == entity_id))).mappings().one())


async def test_changes_are_appended_with_the_row_in_one_statement_as_record_writes_them(
        engine: AsyncEngine) -> None:
    noted = [Change("corporation", 98000001, "alliance_id", 99000001, None),
             Change("corporation", 98000001, "name", "old", "new \u202e")]
    async with engine.begin() as conn:
        await jobs.store(conn, 98000001, _corp("old", "d", alliance_id=99000001), _facts(60))
        await jobs.add(conn, "corporation", [98000001], skip_fresh=False)
        await jobs.store_and_finish(conn, 98000001, _corp("new \u202e", "d"), _facts(60), None, noted)
        await change_log.record(conn, [Change("corporation", 98000002, "alliance_id", 99000001, None)])
        await jobs.store(conn, 99000001, _valid(models.Alliance, ALLIANCE), _facts(60),
                             [Change("alliance", 99000001, "ticker", "A", "B")])
    async with engine.connect() as conn:
        got = [o.change for o in await change_log.recent(conn)]
        nulls = (await conn.execute(text(
            "SELECT jsonb_typeof(new_value) FROM changes WHERE field = 'alliance_id'"))).scalars().all()
        left = await jobs.among(conn, "corporation", [98000001])
    assert got == [*noted, Change("corporation", 98000002, "alliance_id", 99000001, None),
                   Change("alliance", 99000001, "ticker", "A", "B")]
    assert nulls == ["null", "null"], "a CTE's null must be stored like store.changes.record's"
    assert (await _row(engine, "corporation", 98000001))["name"] == "new \u202e" and left == []


async def test_a_304_moves_only_expires_and_checked_and_finishes(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await jobs.store(conn, 98000001, _corp("c", "d", ceo_id=90000005), _facts(-1))
        await jobs.add(conn, "corporation", [98000001], skip_fresh=False)
        await jobs.record_failure(conn, "corporation", 98000001, status=502, reason="earlier",
                                      attempts=1, permanent=False)
    before = await _row(engine, "corporation", 98000001)
    checked = Revalidated(checked_at=NOW, expires_at=NOW + dt.timedelta(hours=2))
    async with engine.begin() as conn:
        added = await jobs.revalidate_and_finish(conn, "corporation", 98000001, checked,
                                                     ("character", [90000005, 90000001]))
        failures = (await conn.execute(select(t.sync_failures.c.id))).scalars().all()
        left = await jobs.among(conn, "corporation", [98000001])
    after = await _row(engine, "corporation", 98000001)
    assert {k for k in after if after[k] != before[k]} == {"expires_at", "checked_at"}
    assert (after["expires_at"], after["checked_at"]) == (checked.expires_at, NOW)
    assert sorted(added) == [90000001, 90000005] and failures == [] and left == []


async def test_member_lists_are_replaced_whole_with_their_own_facts_and_changes(engine: AsyncEngine) -> None:
    noted = [Change("alliance", 99000001, "corporations", [98000001, 98000002], [98000002, 98000003])]
    async with engine.begin() as conn:
        await jobs.store(conn, 99000001, _valid(models.Alliance, ALLIANCE), _facts(60))
        await jobs.replace_members(conn, 99000001, [98000002, 98000001], _facts(-1))
        await jobs.replace_members(conn, 99000001, [98000003, 98000002, 98000003], _facts(60), noted)
        first = await jobs.claim_and_read(conn, "alliance", 99000001, ttl_s=60)
        await jobs.finish(conn, "alliance", 99000001)
        checked = Revalidated(checked_at=NOW, expires_at=NOW + dt.timedelta(hours=3))
        await jobs.revalidate(conn, "alliance", 99000001, checked, t.MEMBERS_PREFIX)
        logged = [o.change for o in await change_log.recent(conn)]
    assert first is not None and first.members == (98000002, 98000003) and first.members_fresh
    row = await _row(engine, "alliance", 99000001)
    assert (row["members_expires_at"], row["members_checked_at"]) == (checked.expires_at, NOW)
    assert row["expires_at"] != checked.expires_at and logged == noted
    async with engine.begin() as conn:
        await jobs.replace_members(conn, 99000001, [], _facts(60))
        emptied = await jobs.claim_and_read(conn, "alliance", 99000001, ttl_s=60)
    assert emptied is not None and emptied.members == ()


async def test_an_alliance_whose_member_list_was_never_stored_has_none(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await jobs.store(conn, 99000001, _valid(models.Alliance, ALLIANCE), _facts(-1))
        got = await jobs.claim_and_read(conn, "alliance", 99000001, ttl_s=60)
    assert got is not None and got.members is None and not got.members_fresh and got.members_etag is None
    assert got.etag == '"abc"' and got.row is not None and got.row["name"] == "A"


async def test_a_tombstone_records_the_deletion_it_is_given(engine: AsyncEngine) -> None:
    deleted = [Change("character", 90000002, "deleted", False, True)]
    async with engine.begin() as conn:
        await jobs.tombstone(conn, 90000002, "Character has been deleted!", deleted)
        logged = [o.change for o in await change_log.recent(conn)]
    assert logged == deleted


async def test_a_deferred_member_list_is_fresh_until_then_though_none_was_stored(engine: AsyncEngine) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    async with engine.begin() as conn:
        await jobs.store(conn, 99000001, _valid(models.Alliance, ALLIANCE), _facts(60))
        await jobs.defer(conn, "alliance", 99000001, later, t.MEMBERS_PREFIX)
        got = await jobs.claim_and_read(conn, "alliance", 99000001, ttl_s=60)
    assert got is not None and got.members_fresh and got.members is None and got.fresh
    row = await _row(engine, "alliance", 99000001)
    assert row["members_expires_at"] == later and row["members_fetched_at"] is None
