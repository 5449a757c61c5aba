"""The store against a real PostgreSQL: migrations, idempotent upserts, hostile strings, the pending set."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from killreport.config import sqlalchemy_url
from killreport.store import entities, migrate, pending, rows
from killreport.store import tables as t

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


def _corp(name: str, description: str) -> dict[str, object]:
    return {"name": name, "ticker": "T'X", "member_count": 0, "ceo_id": 1, "creator_id": 90000001,
            "description": description, "friendly_fire": "legal", "home_station_id": 60000001,
            "shares": 1000, "state": "closed", "type": "player_owned", "war_eligible": False,
            "tax_rates": {"isk": 0.1, "loyalty_point": 0.0}, "date_founded": "2010-01-02T03:04:05Z"}


def _facts(expires_in_s: float) -> entities.CacheFacts:
    now = dt.datetime.now(dt.UTC)
    return entities.CacheFacts(fetched_at=now, expires_at=now + dt.timedelta(seconds=expires_in_s),
                               etag='"abc"', last_modified=now)


async def test_hostile_strings_round_trip_byte_for_byte(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for i, s in enumerate(HOSTILE):
            await entities.upsert(conn, "corporation", 98000000 + i,
                                  rows.corporation_row(_corp(s, s[::-1])), _facts(60))
    async with engine.connect() as conn:
        got = (await conn.execute(select(t.corporations.c.id, t.corporations.c.name,
                                         t.corporations.c.description))).all()
    assert {r.id: (r.name, r.description) for r in got} == {
        98000000 + i: (s, s[::-1]) for i, s in enumerate(HOSTILE)}


async def test_upsert_is_idempotent_and_replaces(engine: AsyncEngine) -> None:
    body = _corp("first", "d")
    async with engine.begin() as conn:
        for _ in range(2):
            await entities.upsert(conn, "corporation", 98000001, rows.corporation_row(body), _facts(60))
        await entities.upsert(conn, "corporation", 98000001,
                              rows.corporation_row({**body, "name": "second", "alliance_id": 99000001}),
                              _facts(60))
    async with engine.connect() as conn:
        got = (await conn.execute(select(t.corporations))).mappings().all()
    assert len(got) == 1
    assert got[0]["name"] == "second"
    assert got[0]["alliance_id"] == 99000001
    assert got[0]["tax_rate_isk"] == 0.1
    assert got[0]["date_founded"] == dt.datetime(2010, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


async def test_store_and_finish_stores_and_clears_pending_and_failure_idempotently(
        engine: AsyncEngine) -> None:
    body = _corp("only", "d")
    async with engine.begin() as conn:
        await pending.add(conn, "corporation", [98000007, 98000008], skip_fresh=False)
        await entities.record_failure(conn, "corporation", 98000007, status=502, reason="earlier",
                                      attempts=1, permanent=False)
        for name in ("first", "second"):
            await entities.store_and_finish(conn, "corporation", 98000007,
                                            rows.corporation_row({**body, "name": name}), _facts(60))
    async with engine.connect() as conn:
        names = (await conn.execute(select(t.corporations.c.name))).scalars().all()
        left = (await conn.execute(select(t.sync_pending.c.id))).scalars().all()
        failures = (await conn.execute(select(t.sync_failures.c.id))).scalars().all()
    assert (names, left, failures) == (["second"], [98000008], [])


async def test_store_and_finish_queues_only_children_not_pending_fresh_or_deleted(
        engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await pending.add(conn, "corporation", [98000007], skip_fresh=False)
        await pending.add(conn, "character", [90000001], skip_fresh=False)  # already pending
        await entities.tombstone(conn, 90000002, "Character has been deleted!")
        added = await entities.store_and_finish(
            conn, "corporation", 98000007, rows.corporation_row(_corp("c", "d")), _facts(60),
            ("character", [90000001, 90000002, 90000003, 90000003]))
        assert added == [90000003]
        assert await pending.among(conn, "corporation", [98000007]) == []
        assert sorted(await pending.among(conn, "character", [90000001, 90000002, 90000003])) == [
            90000001, 90000003]


async def test_alliance_without_executor_stores_with_members(engine: AsyncEngine) -> None:
    body = {"name": "No Exec", "ticker": "NX", "creator_id": 90000001,
            "creator_corporation_id": 98000001, "date_founded": "2015-05-05T00:00:00Z"}
    async with engine.begin() as conn:
        await entities.upsert(conn, "alliance", 99000001, rows.alliance_row(body), _facts(60))
        await entities.replace_members(conn, 99000001, [], _facts(60))
    async with engine.connect() as conn:
        state = await entities.stored(conn, "alliance", 99000001)
    assert state.row is not None and state.row["executor_corporation_id"] is None
    assert state.fresh and state.members_fresh and state.members == []


async def test_stale_rows_are_not_fresh(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await entities.upsert(conn, "corporation", 98000002, rows.corporation_row(_corp("a", "b")),
                              _facts(-1))
    async with engine.connect() as conn:
        assert not (await entities.stored(conn, "corporation", 98000002)).fresh
        assert not (await entities.stored(conn, "corporation", 98000003)).fresh


async def test_pending_dedups_and_skips_fresh_and_tombstoned(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await entities.upsert(conn, "corporation", 98000010, rows.corporation_row(_corp("f", "")),
                              _facts(600))
        await entities.tombstone(conn, 90000666, "deleted")
        assert await pending.add(conn, "corporation", [98000010, 98000011], skip_fresh=True) == [98000011]
        assert await pending.add(conn, "corporation", [98000011], skip_fresh=True) == []
        assert await pending.add(conn, "character", [90000666, 90000001], skip_fresh=False) == [90000001]
        assert await pending.unpublished(conn, "corporation") == [98000011]
        await pending.mark_published(conn, "corporation", [98000011])
        assert await pending.unpublished(conn, "corporation") == []


async def test_claim_is_exclusive_until_released_or_expired(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        first = await pending.claim(conn, "character", 90000001, ttl_s=60)
        second = await pending.claim(conn, "character", 90000001, ttl_s=60)
        assert first is not None and second is None
        await pending.release(conn, "character", 90000001, attempts=2)
        again = await pending.claim(conn, "character", 90000001, ttl_s=0.01)
        assert again is not None and again.attempts == 2
    await asyncio.sleep(0.05)
    async with engine.begin() as conn:
        assert await pending.claim(conn, "character", 90000001, ttl_s=60) is not None
        counts = await pending.counts(conn)
        assert counts["character"] == {"pending": 1, "in_flight": 1, "retrying": 0}
        await pending.finish(conn, "character", 90000001)
        assert await pending.counts(conn) == {}


async def test_claim_and_read_is_exclusive_and_reads_what_stored_reads(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await entities.upsert(conn, "corporation", 98000009, rows.corporation_row(_corp("c", "d")),
                              _facts(60))
        got = await entities.claim_and_read(conn, "corporation", 98000009, ttl_s=60)
        assert got == await entities.stored(conn, "corporation", 98000009)
        assert got is not None and got.fresh and got.row is not None and got.row["name"] == "c"
        assert await entities.claim_and_read(conn, "corporation", 98000009, ttl_s=60) is None
        missing = await entities.claim_and_read(conn, "corporation", 98000010, ttl_s=60)
        assert missing == entities.Stored(row=None, fresh=False)
        assert (await pending.counts(conn))["corporation"]["in_flight"] == 2


async def test_tombstone_removes_character_row(engine: AsyncEngine) -> None:
    body = {"name": "gone", "birthday": "2010-01-01T00:00:00Z", "bloodline_id": 1, "race_id": 1,
            "corporation_id": 1000001, "gender": "male", "achievement_score": 0}
    async with engine.begin() as conn:
        await entities.upsert(conn, "character", 90000002, rows.character_row(body), _facts(60))
        await entities.tombstone(conn, 90000002, "Character has been deleted!")
        await entities.tombstone(conn, 90000002, "Character has been deleted!")
    async with engine.connect() as conn:
        state = await entities.stored(conn, "character", 90000002)
        n = (await conn.execute(text("SELECT count(*) FROM characters"))).scalar_one()
    assert state.tombstoned and n == 0


async def test_migrations_downgrade_and_upgrade_again(fresh_pg_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, fresh_pg_url, "0001")
    await asyncio.to_thread(migrate.downgrade, fresh_pg_url, "base")
    await asyncio.to_thread(migrate.upgrade, fresh_pg_url, "0001")
    eng = create_async_engine(sqlalchemy_url(fresh_pg_url))
    async with eng.connect() as conn:
        n = (await conn.execute(text("SELECT count(*) FROM alliances"))).scalar_one()
    await eng.dispose()
    assert n == 0
