"""The job's hot statements on an autocommit connection, where they go straight to asyncpg: the same
results as through SQLAlchemy, and SQLAlchemy's errors (the worker's retry rules depend on them)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from killreport.changes import Change
from killreport.domain import models
from killreport.domain.budget_rules import RULES
from killreport.esi.validate import validate
from killreport.store import admin as pg_admin
from killreport.store import entities, jobs
from killreport.store.facts import CacheFacts, Revalidated

CORPORATION = {
    "name": "Hot 'Path' \\ 漢字", "ticker": "HOT", "member_count": 3, "ceo_id": 90000001,
    "creator_id": 90000002, "description": "d", "friendly_fire": "legal", "home_station_id": 60000001,
    "shares": 1000, "state": "closed", "type": "player_owned", "war_eligible": False,
    "tax_rates": {"isk": 0.1, "loyalty_point": 0.25}, "date_founded": "2010-01-02T03:04:05Z"}


def _corporation(**more: Any) -> models.Corporation:
    return validate(models.Corporation, json.dumps({**CORPORATION, **more}).encode(), "/test")


def _facts() -> CacheFacts:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return CacheFacts(fetched_at=now, expires_at=now + dt.timedelta(seconds=60), etag='"e"',
                      last_modified=now)


def _auto(engine: AsyncEngine) -> AsyncEngine:
    return engine.execution_options(isolation_level="AUTOCOMMIT")


async def _claim(conn: AsyncConnection, entity_id: int) -> entities.Stored | None:
    return await jobs.claim_and_read(conn, "corporation", entity_id, 60.0)


async def test_claim_store_and_read_back_agree_with_the_transactional_path(engine: AsyncEngine) -> None:
    async with _auto(engine).connect() as conn:
        assert await _claim(conn, 98000001) == entities.Stored(fresh=False)
        assert await _claim(conn, 98000001) is None, "a held claim is not won twice"
        noted = [Change("corporation", 98000001, "name", "old", None)]
        added = await jobs.store_and_finish(conn, 98000001, _corporation(), _facts(),
                                                ("character", [90000001, 90000002]), noted)
        assert sorted(added) == [90000001, 90000002]
        fast = await _claim(conn, 98000001)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM sync_pending"))
        slow = await _claim(conn, 98000001)
    assert fast is not None and fast == slow
    assert fast.fresh and fast.etag == '"e"'
    assert fast.row is not None and fast.row["name"] == CORPORATION["name"]
    async with engine.connect() as conn:
        logged = (await conn.execute(text("SELECT field, old_value, new_value FROM changes"))).all()
    assert [tuple(r) for r in logged] == [("name", "old", None)]


async def test_a_304_moves_expires_and_queues_children(engine: AsyncEngine) -> None:
    async with _auto(engine).connect() as conn:
        await jobs.store_and_finish(conn, 98000002, _corporation(), _facts())
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        added = await jobs.revalidate_and_finish(
            conn, "corporation", 98000002, Revalidated(expires_at=later, checked_at=later),
            ("character", [90000009]))
        query = text("SELECT expires_at FROM corporations WHERE id = 98000002")
        stored = (await conn.execute(query)).scalar()
    assert added == [90000009] and stored == later


async def test_a_statement_error_is_the_one_sqlalchemy_raises(engine: AsyncEngine) -> None:
    forever = float("inf")  # a claim until the end of time: the database refuses the interval
    async with engine.begin() as conn:
        with pytest.raises(sa_exc.DBAPIError) as through_sqlalchemy:
            await jobs.claim_and_read(conn, "corporation", 98000003, forever)
    async with _auto(engine).connect() as conn:
        with pytest.raises(sa_exc.DBAPIError) as direct:
            await jobs.claim_and_read(conn, "corporation", 98000003, forever)
        assert await _claim(conn, 98000003) == entities.Stored(fresh=False), "the connection still works"
    assert type(direct.value) is type(through_sqlalchemy.value)
    assert type(direct.value.orig) is type(through_sqlalchemy.value.orig)
    assert not direct.value.connection_invalidated


async def _terminate(engine: AsyncEngine, conn: AsyncConnection) -> None:
    """End `conn`'s server session from another connection, as a restart or an admin would."""
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
    killer = await asyncpg.connect(url)
    try:
        await killer.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()
    await asyncio.sleep(0.2)


async def test_a_lost_connection_is_invalidated_and_the_next_one_works(engine: AsyncEngine) -> None:
    async with _auto(engine).connect() as conn:
        await _terminate(engine, conn)
        with pytest.raises(sa_exc.DBAPIError) as lost:
            await _claim(conn, 98000004)
    assert lost.value.connection_invalidated
    async with _auto(engine).connect() as conn:
        assert await _claim(conn, 98000004) == entities.Stored(fresh=False)


async def test_the_budget_snapshot_read_on_the_driver_fails_as_sqlalchemy_does(engine: AsyncEngine) -> None:
    # `sync-all --wait` and `status` wait out a DBAPIError; asyncpg's own error would end them.
    async with engine.connect() as conn:
        await _terminate(engine, conn)
        with pytest.raises(sa_exc.DBAPIError) as lost:
            await pg_admin.budget_snapshot(conn, RULES)
    assert lost.value.connection_invalidated
    async with engine.connect() as conn:
        assert (await pg_admin.budget_snapshot(conn, RULES)).in_flight == 0
