"""Shared fixtures: a private database and a private RabbitMQ vhost for each test session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

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
