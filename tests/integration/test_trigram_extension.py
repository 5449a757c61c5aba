"""A role that may not create pg_trgm is told what to do, and the migration leaves nothing behind.

The role here may make tables in the public schema but has no CREATE on the database, which a
trusted extension needs (PostgreSQL 13+); the database's owner could create it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from killreport.store import migrate
from tests import services


@pytest.fixture
def limited_url(fresh_pg_url: str) -> Iterator[str]:
    """`fresh_pg_url` as a role that can create tables there but not extensions (dropped after)."""
    role = services.unique_name("kr_role")

    async def grant() -> None:
        conn = await asyncpg.connect(fresh_pg_url)
        try:
            await conn.execute("DROP EXTENSION IF EXISTS pg_trgm")
            await conn.execute(f'CREATE ROLE "{role}" LOGIN')
            await conn.execute(f'GRANT CREATE, USAGE ON SCHEMA public TO "{role}"')
        finally:
            await conn.close()

    asyncio.run(grant())
    parts = urlsplit(fresh_pg_url)
    yield urlunsplit((parts.scheme, f"{role}@{parts.hostname}:{parts.port}", parts.path, "", ""))

    async def drop() -> None:
        conn = await asyncpg.connect(fresh_pg_url)
        try:
            await conn.execute(f'DROP OWNED BY "{role}"')
        finally:
            await conn.close()
        await services.drop_database(parts.path.lstrip("/"))
        admin = await asyncpg.connect(services.PG_ADMIN_URL)
        try:
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await admin.close()

    asyncio.run(drop())


def test_a_role_that_may_not_create_pg_trgm_is_told_how(limited_url: str) -> None:
    with pytest.raises(RuntimeError, match=r"pg_trgm.*CREATE EXTENSION pg_trgm;") as raised:
        migrate.upgrade(limited_url)
    assert "permission denied" in str(raised.value)

    async def tables() -> list[str]:
        conn = await asyncpg.connect(limited_url)
        try:
            return [r[0] for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        finally:
            await conn.close()

    assert asyncio.run(tables()) == [], "rolled back whole"
