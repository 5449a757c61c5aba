"""Shared fixtures: a private database and a private RabbitMQ vhost for each test session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from killreport.config import sqlalchemy_url
from killreport.store.interface import Store
from killreport.store.postgres import postgres_store
from tests import services


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database created for this test session (empty; run migrations yourself)."""
    name = services.unique_name("kr_test")
    url = asyncio.run(services.create_database(name))
    yield url
    asyncio.run(services.drop_database(name))


@pytest.fixture(scope="session", autouse=True)
def _drop_template() -> Iterator[None]:
    """Drop the migrated template database at the end, if a test made one."""
    yield
    services.drop_template()


@pytest.fixture
def fresh_pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database created for one test: empty, or holding the whole schema when `engine` is used."""
    name = services.unique_name("kr_test")
    # `engine` promises the schema on this same database: copy the migrated template rather than
    # migrate (~0.1 s instead of ~1 s a test).
    migrated = "engine" in request.fixturenames
    url = asyncio.run(services.create_migrated_database(name) if migrated else services.create_database(name))
    yield url
    asyncio.run(services.drop_database(name))


@pytest.fixture(scope="session")
def rabbit_url() -> Iterator[str]:
    """A RabbitMQ vhost created for this test session."""
    name = services.unique_name("kr_test")
    url = services.create_vhost(name)
    yield url
    services.delete_vhost(name)


@pytest.fixture
def fresh_rabbit_url() -> Iterator[str]:
    """A RabbitMQ vhost created for one test."""
    name = services.unique_name("kr_test")
    url = services.create_vhost(name)
    yield url
    services.delete_vhost(name)


@pytest.fixture
async def engine(fresh_pg_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database with the whole schema (fresh_pg_url made it a migrated copy)."""
    eng = create_async_engine(sqlalchemy_url(fresh_pg_url))
    yield eng
    await eng.dispose()


@pytest.fixture
def pg_store(engine: AsyncEngine, fresh_pg_url: str) -> Store:
    """The PostgreSQL Store on `engine`'s fresh database."""
    return postgres_store(engine, fresh_pg_url)
