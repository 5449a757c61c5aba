"""Per-run PostgreSQL databases and RabbitMQ vhosts on the shared services, created and dropped by tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
RABBIT_BASE_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def unique_name(prefix: str) -> str:
    """A name no other run uses."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


async def create_database(name: str) -> str:
    """Create a fresh database and return its `postgresql://` URL."""
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_path(PG_ADMIN_URL, "/" + name)


async def drop_database(name: str) -> None:
    """Drop a database made by create_database, closing whatever still uses it."""
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def create_vhost(name: str) -> str:
    """Create a RabbitMQ vhost for guest and return its `amqp://` URL."""
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    return _with_path(RABBIT_BASE_URL, "/" + name)


def delete_vhost(name: str) -> None:
    """Delete a vhost made by create_vhost."""
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False, capture_output=True)


@contextlib.contextmanager
def rabbit_user(vhost_url: str, password: str) -> Iterator[str]:
    """A RabbitMQ user of its own with `password` and every permission on `vhost_url`'s vhost.

    Yields the user's name; the user is deleted afterwards.
    """
    user = unique_name("kr_user")
    vhost = urlsplit(vhost_url).path.lstrip("/")
    subprocess.run(["rabbitmqctl", "-q", "add_user", user, password], check=True, capture_output=True)
    try:
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
                       check=True, capture_output=True)
        yield user
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_user", user], check=False, capture_output=True)
