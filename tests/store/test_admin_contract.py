"""AdminQueries' contract: each test runs on PostgreSQL and on SQLite and expects the same answers.

Counts, freshness, request counts by minute, recorded changes and the schema's revision. State is
made through `store.jobs` (itself held to the same answers by test_jobs_contract.py) or plain Core.
The budget snapshot is the budget's own (tests of store/budget.py and store/sqlite/budget.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from killreport.changes import Change
from killreport.config import sqlalchemy_url
from killreport.store import migrate
from killreport.store import tables as t
from killreport.store.changes import Observed
from killreport.store.freshness import Freshness
from killreport.store.interface import Store
from killreport.store.postgres import postgres_store
from killreport.store.sqlite.engine import open_engine
from killreport.store.sqlite.store import sqlite_store
from tests.store.test_jobs_contract import HOUR, alliance, at, character, corporation, facts, put

# Two clocks (the test's and the database's) read a moment apart agree within this.
CLOCKS_AGREE_S = 5.0


def _open(url: str) -> Store:
    if url.startswith("sqlite:///"):
        return sqlite_store(open_engine(url), url)
    return postgres_store(create_async_engine(sqlalchemy_url(url)), url)


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all."""
    if request.param == "postgresql":
        yield str(request.getfixturevalue("fresh_pg_url"))
    else:
        yield f"sqlite:///{tmp_path / 'empty.db'}"


async def test_ping_answers_and_the_schema_is_at_the_newest_revision(store: Store) -> None:
    head = ScriptDirectory.from_config(migrate.alembic_config(store.url)).get_current_head()
    async with store.connect() as conn:
        await store.admin.ping(conn)
        assert head is not None
        assert await store.admin.schema_version(conn) == head


async def test_a_database_without_the_schema_has_no_version_and_still_answers(empty_url: str) -> None:
    empty = _open(empty_url)
    try:
        async with empty.connect() as conn:
            assert await empty.admin.schema_version(conn) is None
            await empty.admin.ping(conn)           # the connection is still usable after asking
    finally:
        await empty.engine.dispose()


async def test_ping_raises_when_the_database_cannot_answer(tmp_path: Path, store: Store) -> None:
    if store.dialect == "sqlite":
        garbage = tmp_path / "not-a-database.db"
        garbage.write_bytes(b"this is not an SQLite file" * 100)
        broken = _open(f"sqlite:///{garbage}")
    else:
        broken = _open(store.url.rsplit("/", 1)[0] + "/kr_no_such_database")
    try:
        with pytest.raises(DBAPIError):
            async with broken.connect() as conn:
                await broken.admin.ping(conn)
    finally:
        await broken.engine.dispose()


async def test_pending_counts_tell_in_flight_from_retrying(store: Store) -> None:
    async with store.autocommit() as conn:
        assert await store.admin.pending_counts(conn) == {}
        await store.jobs.add(conn, "corporation", [1, 2, 3], skip_fresh=False)
        await store.jobs.add(conn, "character", [1], skip_fresh=False)
        assert await store.jobs.claim_and_read(conn, "corporation", 1, HOUR) is not None   # in flight
        assert await store.jobs.claim_and_read(conn, "corporation", 2, HOUR) is not None
        await store.jobs.release(conn, "corporation", 2, attempts=1)                         # retrying
        assert await store.jobs.claim_and_read(conn, "corporation", 4, HOUR) is not None
        await store.jobs.release(conn, "corporation", 4, attempts=2, hold_until=at(HOUR))    # held
        assert await store.admin.pending_counts(conn) == {
            "corporation": {"pending": 4, "in_flight": 2, "retrying": 1},
            "character": {"pending": 1, "in_flight": 0, "retrying": 0}}


async def test_entity_counts(store: Store) -> None:
    async with store.connect() as conn:
        assert await store.admin.entity_counts(conn) == {
            "alliances": 0, "corporations": 0, "characters": 0, "deleted_characters": 0, "failures": 0}
    await put(store, 99000001, alliance(), facts(HOUR))
    await put(store, 98000001, corporation(), facts(HOUR))
    await put(store, 98000002, corporation(), facts(HOUR))
    await put(store, 90000001, character(), facts(HOUR))
    async with store.autocommit() as conn:
        await store.jobs.tombstone(conn, 90000002, "404")
        await store.jobs.record_failure(conn, "alliance", 1, status=404, reason="gone", attempts=1,
                                        permanent=True)
        assert await store.admin.entity_counts(conn) == {
            "alliances": 1, "corporations": 2, "characters": 1, "deleted_characters": 1, "failures": 1}


async def test_big_tables_are_estimated_on_postgresql_and_counted_on_sqlite(store: Store) -> None:
    for i in range(30):
        await put(store, 90000001 + i, character(), facts(HOUR))
    async with store.autocommit() as conn:
        if store.dialect == "postgresql":
            await conn.execute(text("ANALYZE characters, corporations"))
        # Deleted after the estimate was made: the pages it measured stay, so it still says 30.
        await conn.execute(delete(t.characters).where(t.characters.c.id > 90000025))
    async with store.connect() as conn:
        estimated = await store.admin.entity_counts(conn, exact_below=10)
        counted = await store.admin.entity_counts(conn)
    assert counted["characters"] == 25
    assert estimated["characters"] == (30 if store.dialect == "postgresql" else 25)
    assert estimated["corporations"] == counted["corporations"] == 0, "estimated small: counted"


def _about(seconds: float | None, expected: float) -> bool:
    return seconds is not None and abs(seconds - expected) < CLOCKS_AGREE_S


async def test_freshness_counts_what_is_tracked_and_past_its_expires(store: Store) -> None:
    await put(store, 99000001, alliance(), facts(HOUR))                # detail fresh, no member list: past
    await put(store, 99000002, alliance(), facts(HOUR))                # members 100 s past: the older
    await put(store, 99000003, alliance(), facts(-500.0))              # closed: not tracked
    await put(store, 98000001, corporation(), facts(None))             # no Expires: past, no age
    await put(store, 98000002, corporation(), facts(-50.0))
    await put(store, 90000001, character(), facts(HOUR))
    await put(store, 90000002, character(), facts(-900.0))             # deleted: not tracked
    async with store.autocommit() as conn:
        await store.jobs.replace_members(conn, 99000002, [1], facts(-100.0))
        await store.jobs.tombstone(conn, 90000002, "404")
        await conn.execute(t.alliances.update().where(t.alliances.c.id == 99000003).values(closed_at=at(0)))
        got = await store.admin.freshness(conn)
    assert set(got) == {"alliance", "corporation", "character"}
    assert got["character"] == Freshness(tracked=1, past_expires=0, oldest_past_s=None)
    assert (got["alliance"].tracked, got["alliance"].past_expires) == (2, 2)
    assert (got["corporation"].tracked, got["corporation"].past_expires) == (2, 2)
    assert _about(got["alliance"].oldest_past_s, 100.0), got["alliance"]
    assert _about(got["corporation"].oldest_past_s, 50.0), got["corporation"]
    async with store.connect() as conn:
        await conn.execute(t.corporations.delete())
        assert "corporation" not in await store.admin.freshness(conn), "nothing stored, no entry"


async def test_request_counts_add_up_by_minute_route_and_status(store: Store) -> None:
    async with store.autocommit() as conn:
        await store.admin.add_request_counts(conn, {})
        assert await store.admin.request_totals(conn) == {}
        await store.admin.add_request_counts(
            conn, {("/alliances/{id}/", 200): 3, ("/alliances/{id}/", 304): 1, ("/status/", 0): 2})
        log = t.esi_request_log.c
        minutes = (await conn.execute(select(log.minute).distinct())).scalars().all()
        await store.admin.add_request_counts(conn, {("/alliances/{id}/", 200): 2})
        # An hour-old minute: in the totals, not in the last few minutes.
        old = at(-2 * HOUR).replace(second=0, microsecond=0)
        await conn.execute(insert(t.esi_request_log).values(minute=old, route="/old/", status=200, count=7))
        totals = await store.admin.request_totals(conn)
        recent = await store.admin.recent_requests(conn, 120.0)   # this minute and the one before
        hour = await store.admin.recent_requests(conn, HOUR)
    assert len(minutes) == 1, "one flush, one minute"
    assert minutes[0].second == 0 and minutes[0].microsecond == 0
    assert abs((minutes[0] - at(0)).total_seconds()) < 60 + CLOCKS_AGREE_S
    assert totals == {200: 12, 304: 1, 0: 2}
    assert recent == hour == {("/alliances/{id}/", 200): 5, ("/alliances/{id}/", 304): 1, ("/status/", 0): 2}


async def test_recent_changes_filter_and_keep_the_newest_oldest_first(store: Store) -> None:
    first = [Change("corporation", 98000001, "name", "a", "b"), Change("corporation", 98000001, "url", None,
                                                                        "https://x")]
    second = [Change("alliance", 99000001, "corporations", [1, 2], [2, 3])]
    third = [Change("corporation", 98000002, "tax_rate_isk", 0.1, 0.2),
             Change("character", 90000001, "deleted", False, True)]
    before = at(-CLOCKS_AGREE_S)
    async with store.autocommit() as conn:
        await store.jobs.store(conn, 98000001, corporation(), facts(HOUR), first)
        await store.jobs.put_ids(conn, "/x/", [], facts(HOUR))
        await store.jobs.store(conn, 99000001, alliance(), facts(HOUR))
        await store.jobs.replace_members(conn, 99000001, [2, 3], facts(HOUR), second)
        await store.jobs.store(conn, 98000002, corporation(), facts(HOUR), third[:1])
        await store.jobs.tombstone(conn, 90000001, "404", third[1:])
        everything = await store.admin.recent_changes(conn)
        assert [o.change for o in everything] == first + second + third
        assert [(type(o.change.old), type(o.change.new)) for o in everything] == [
            (type(c.old), type(c.new)) for c in first + second + third], "JSON types kept: true, not 1"
        assert [o.id for o in everything] == [1, 2, 3, 4, 5]
        assert all(isinstance(o, Observed) and before <= o.observed_at <= at(CLOCKS_AGREE_S)
                   for o in everything)
        assert [o.change for o in await store.admin.recent_changes(conn, limit=2)] == third
        assert [o.change for o in await store.admin.recent_changes(conn, kind="corporation")] == [
            *first, third[0]]
        assert [o.change for o in await store.admin.recent_changes(
            conn, kind="corporation", entity_id=98000001, limit=1)] == first[1:]
        assert await store.admin.recent_changes(conn, since=at(HOUR)) == []
        assert await store.admin.recent_changes(conn, since=before) == everything


async def test_counts_and_changes_read_inside_a_callers_transaction(store: Store) -> None:
    # The web and `status` read several answers on one connection; none may disturb the next.
    async with store.begin() as conn:
        assert await store.admin.schema_version(conn) is not None
        await store.jobs.add(conn, "alliance", [1], skip_fresh=False)
        assert await store.admin.pending_counts(conn) == {
            "alliance": {"pending": 1, "in_flight": 0, "retrying": 0}}
        assert (await conn.execute(select(func.count()).select_from(t.sync_pending))).scalar() == 1
    async with store.connect() as conn:
        assert await store.admin.pending_counts(conn) == {
            "alliance": {"pending": 1, "in_flight": 0, "retrying": 0}}
