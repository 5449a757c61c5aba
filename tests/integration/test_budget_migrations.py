"""The budget's functions come from store/sql through migrations 0003, 0006, 0008 and 0012: from empty,
from 0002, from a database 0005, 0007 or 0011 left, and back."""

from __future__ import annotations

import asyncio

import asyncpg
from alembic import command

from killreport.budget.pg import PgBudget
from killreport.esi.classify import observe
from killreport.store.migrate import alembic_config
from killreport.store.sql import read
from tests.rules import NO_DOWNTIME

FUNCTIONS = ("SELECT p.oid::regprocedure::text AS signature, p.prosrc FROM pg_proc p"
             " WHERE p.proname IN ('esi_reserve', 'esi_settle') ORDER BY 1")
NEW = {
    "esi_reserve(text,integer,integer,double precision,integer,double precision,double precision,"
    "double precision,text,double precision,double precision,double precision,double precision,"
    "double precision,double precision,text,double precision,double precision)",
    "esi_settle(bigint,text,integer,boolean,integer,double precision,text,integer,double precision,"
    "integer,double precision,integer,double precision,double precision,double precision,"
    "double precision,integer,double precision,boolean,double precision,double precision,text,"
    "double precision,double precision,double precision,double precision,double precision,"
    "text,double precision,boolean,double precision,double precision,double precision,double precision,"
    "double precision)",
}
# What 0008 to 0011 had (store/sql/esi_*_0008.sql), as a database migrated before 0012 has them.
AT_0011 = {
    "esi_reserve(text,integer,integer,double precision,integer,double precision,double precision,"
    "double precision,text,double precision,double precision,double precision,double precision,"
    "double precision,double precision,double precision,double precision)",
    "esi_settle(bigint,text,integer,boolean,integer,double precision,text,integer,double precision,"
    "integer,double precision,integer,double precision,double precision,double precision,"
    "double precision,integer,double precision,boolean,double precision,double precision,text,"
    "double precision,double precision,double precision,double precision,double precision,"
    "double precision,boolean,double precision,double precision,double precision,double precision)",
}
# What 0006 and 0007 had (store/sql/esi_*_0006.sql), as a database migrated before 0008 has them.
AT_0007 = {
    "esi_reserve(text,integer,integer,double precision,integer,double precision,double precision,"
    "double precision,text,double precision,double precision,double precision,double precision,"
    "double precision,double precision,double precision)",
    "esi_settle(bigint,text,integer,boolean,integer,double precision,text,integer,double precision,"
    "integer,double precision,integer,double precision,double precision,double precision,"
    "double precision,integer,double precision,boolean,double precision,double precision,text,"
    "double precision,double precision,double precision,double precision,double precision,"
    "double precision)",
}
# What 0003 to 0005 created (store/sql/esi_*_0003.sql), as a database migrated before 0006 has them.
AT_0005 = {
    "esi_reserve(text,integer,integer,double precision,integer,double precision,double precision,"
    "double precision,double precision)",
    "esi_settle(bigint,text,integer,boolean,integer,double precision,text,integer,double precision,"
    "integer,double precision,integer,double precision,double precision,double precision,"
    "double precision,integer,double precision,double precision)",
}
# Stand-ins with the argument lists the functions had before 0003, as a database migrated then has them.
OLD = [
    "CREATE FUNCTION esi_reserve(text, integer, integer, double precision) RETURNS integer"
    " LANGUAGE sql AS 'SELECT 1'",
    "CREATE FUNCTION esi_settle(bigint, text, integer, boolean, integer, double precision, text, integer,"
    " double precision, integer, double precision) RETURNS boolean LANGUAGE sql AS 'SELECT true'",
]


def upgrade(url: str, revision: str) -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


async def functions(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        return {row["signature"]: row["prosrc"] for row in await conn.fetch(FUNCTIONS)}
    finally:
        await conn.close()


async def a_reserve_and_settle_work(url: str) -> None:
    budget = await PgBudget.open(url, max_inflight=4, error_floor=1, lease_ttl_s=10.0, rules=NO_DOWNTIME)
    try:
        lease = await asyncio.wait_for(budget.reserve("/x"), 2.0)
        assert lease.probe
        await budget.settle(lease, observe(200, {"x-esi-error-limit-remain": "50",
                                                 "x-esi-error-limit-reset": "60",
                                                 "x-ratelimit-group": "g", "x-ratelimit-remaining": "9"}))
        snap = await budget.snapshot()
        assert snap.error_limit_remaining == 50 and snap.route_groups == {"/x": "g"}
        assert [(b.group, b.window_s, b.remaining) for b in snap.buckets] == [("g", 900, 9)]
    finally:
        await budget.close()


async def test_from_empty_the_functions_are_the_sql_files(fresh_pg_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_pg_url, "head")
    found = await functions(fresh_pg_url)
    assert set(found) == NEW
    for name in ("esi_reserve", "esi_settle"):
        body = next(src for sig, src in found.items() if sig.startswith(name + "("))
        assert body.strip() in read(name + ".sql"), f"{name} is not the text of {name}.sql"
    await a_reserve_and_settle_work(fresh_pg_url)


async def test_from_0002_to_head_replaces_the_old_signatures(fresh_pg_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_pg_url, "0002")
    conn = await asyncpg.connect(fresh_pg_url)
    try:
        for statement in OLD:
            await conn.execute(statement)
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, fresh_pg_url, "head")
    assert set(await functions(fresh_pg_url)) == NEW, "an old overload survived beside the new one"
    await a_reserve_and_settle_work(fresh_pg_url)


async def test_down_to_0005_restores_its_functions_and_up_again_replaces_them(fresh_pg_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_pg_url, "head")
    await asyncio.to_thread(downgrade, fresh_pg_url, "0005")
    found = await functions(fresh_pg_url)
    assert set(found) == AT_0005
    for name in ("esi_reserve", "esi_settle"):
        body = next(src for sig, src in found.items() if sig.startswith(name + "("))
        assert body.strip() in read(name + "_0003.sql")
    conn = await asyncpg.connect(fresh_pg_url)
    try:  # the functions 0005 had still work on 0005's tables
        row = await conn.fetchrow("SELECT * FROM esi_reserve('/x', 4, 1, 0, 5, 1, 0.01, 1)")  # ttl 0
        assert row is not None and row["o_lease"] is not None
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, fresh_pg_url, "head")
    assert set(await functions(fresh_pg_url)) == NEW, "0005's overloads survived beside 0006's"
    await a_reserve_and_settle_work(fresh_pg_url)


async def test_down_to_0007_restores_its_functions_without_caps_and_up_again(fresh_pg_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_pg_url, "head")
    await asyncio.to_thread(downgrade, fresh_pg_url, "0007")
    found = await functions(fresh_pg_url)
    assert set(found) == AT_0007
    for name in ("esi_reserve", "esi_settle"):
        body = next(src for sig, src in found.items() if sig.startswith(name + "("))
        assert body.strip() in read(name + "_0006.sql")
    conn = await asyncpg.connect(fresh_pg_url)
    try:  # the functions 0007 had still work on 0007's tables
        row = await conn.fetchrow("SELECT * FROM esi_reserve('/x', 4, 1, 0, 5, 1, 0.01, 1, '/status', 39600,"
                                  " 86400, 0, 0, 1, 10)")
        assert row is not None and row["o_lease"] is not None
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, fresh_pg_url, "head")
    assert set(await functions(fresh_pg_url)) == NEW, "0007's overloads survived beside 0008's"
    await a_reserve_and_settle_work(fresh_pg_url)


async def test_down_to_0011_restores_per_route_caps_and_up_again(fresh_pg_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_pg_url, "head")
    await asyncio.to_thread(downgrade, fresh_pg_url, "0011")
    found = await functions(fresh_pg_url)
    assert set(found) == AT_0011
    for name in ("esi_reserve", "esi_settle"):
        body = next(src for sig, src in found.items() if sig.startswith(name + "("))
        assert body.strip() in read(name + "_0008.sql")
    conn = await asyncpg.connect(fresh_pg_url)
    try:  # the functions 0011 had still work on 0011's tables, a capped route's row keyed by route
        row = await conn.fetchrow("SELECT * FROM esi_reserve('/h', 4, 1, 0, 5, 1, 0.01, 1, '/status', 39600,"
                                  " 86400, 0, 0, 1, 10, 4)")
        assert row is not None and row["o_lease"] is not None
        assert await conn.fetchval("SELECT route FROM esi_route_caps") == "/h"
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, fresh_pg_url, "head")
    assert set(await functions(fresh_pg_url)) == NEW, "0011's overloads survived beside 0012's"
    await a_reserve_and_settle_work(fresh_pg_url)


async def test_down_to_0002_and_up_again(fresh_pg_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_pg_url, "head")
    await asyncio.to_thread(downgrade, fresh_pg_url, "0002")
    assert await functions(fresh_pg_url) == {}
    await asyncio.to_thread(upgrade, fresh_pg_url, "head")
    assert set(await functions(fresh_pg_url)) == NEW
    await asyncio.to_thread(downgrade, fresh_pg_url, "0001")
    assert await functions(fresh_pg_url) == {}
