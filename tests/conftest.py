"""Shared fixtures: a private database and a private RabbitMQ vhost for each test session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from killreport.config import sqlalchemy_url
from killreport.store import migrate
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


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A database created for one test."""
    name = services.unique_name("kr_test")
    url = asyncio.run(services.create_database(name))
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
    """An engine on a fresh database with the whole schema."""
    await asyncio.to_thread(migrate.upgrade, fresh_pg_url)
    eng = create_async_engine(sqlalchemy_url(fresh_pg_url))
    yield eng
    await eng.dispose()


@pytest.fixture
def pg_store(engine: AsyncEngine, fresh_pg_url: str) -> Store:
    """The PostgreSQL Store on `engine`'s fresh database."""
    return postgres_store(engine, fresh_pg_url)
