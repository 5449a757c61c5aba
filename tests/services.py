"""Per-run PostgreSQL databases and RabbitMQ vhosts on the shared services, created and dropped by tests."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from killreport.store import migrate

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
RABBIT_BASE_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
# The management plugin's HTTP API (scripts/test and .ci/run enable it): a vhost or user made over
# it costs ~30 ms, where each `rabbitmqctl` call started an Erlang VM (~0.9 s, three per vhost).
RABBIT_API_URL = os.environ.get("TEST_RABBITMQ_API_URL", "http://guest:guest@127.0.0.1:15672/api")


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


# One database migrated once per process (each pytest-xdist worker is one), cloned for every test that
# wants a migrated database: CREATE DATABASE ... TEMPLATE took ~0.1 s where the migrations took ~1 s.
# Tests of the migrations themselves still run them.
_template: str | None = None


async def _migrated_template() -> str:
    """The name of this process's migrated template database, made on first use."""
    global _template
    if _template is None:
        name = unique_name("kr_template")
        url = await create_database(name)
        try:
            await asyncio.to_thread(migrate.upgrade, url)
        except BaseException:
            await drop_database(name)
            raise
        _template = name
    return _template


async def create_migrated_database(name: str) -> str:
    """Create a database holding the whole schema (a copy of the template) and return its URL."""
    template = await _migrated_template()
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return _with_path(PG_ADMIN_URL, "/" + name)


def on_shared_server(url: str) -> bool:
    """Whether `url` names a database of the shared server (not of a test's private one)."""
    ours, theirs = urlsplit(PG_ADMIN_URL), urlsplit(url)
    return (ours.hostname, ours.port) == (theirs.hostname, theirs.port)


async def replace_with_migrated(url: str) -> None:
    """Make the shared server's database at `url` a fresh copy of the template (whatever it held is gone)."""
    name = urlsplit(url).path.lstrip("/")
    await drop_database(name)
    await create_migrated_database(name)


def drop_template() -> None:
    """Drop this process's template database, if it made one."""
    global _template
    if _template is not None:
        asyncio.run(drop_database(_template))
        _template = None


def _rabbit_api(method: str, path: str, body: dict[str, str] | None = None) -> None:
    """One call to the management API; a failure raises, naming the call, so a test errors, never skips."""
    parts = urlsplit(RABBIT_API_URL)
    base = urlunsplit((parts.scheme, f"{parts.hostname}:{parts.port}", parts.path, "", ""))
    login = base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()
    request = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Basic {login}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30):
            pass
    except urllib.error.HTTPError as exc:
        if not (method == "DELETE" and exc.code == 404):
            raise RuntimeError(f"RabbitMQ management API: {method} {path}: {exc}") from exc
    except urllib.error.URLError as exc:
        raise RuntimeError(f"RabbitMQ management API unreachable at {base} ({exc.reason}); "
                           "enable it: rabbitmq-plugins enable rabbitmq_management") from exc


def _permit(vhost: str, user: str) -> None:
    _rabbit_api("PUT", f"/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
                {"configure": ".*", "write": ".*", "read": ".*"})


def create_vhost(name: str) -> str:
    """Create a RabbitMQ vhost for guest and return its `amqp://` URL."""
    _rabbit_api("PUT", f"/vhosts/{quote(name, safe='')}")
    _permit(name, "guest")
    return _with_path(RABBIT_BASE_URL, "/" + name)


def delete_vhost(name: str) -> None:
    """Delete a vhost made by create_vhost."""
    _rabbit_api("DELETE", f"/vhosts/{quote(name, safe='')}")


@contextlib.contextmanager
def rabbit_user(vhost_url: str, password: str) -> Iterator[str]:
    """A RabbitMQ user of its own with `password` and every permission on `vhost_url`'s vhost.

    Yields the user's name; the user is deleted afterwards.
    """
    user = unique_name("kr_user")
    vhost = urlsplit(vhost_url).path.lstrip("/")
    _rabbit_api("PUT", f"/users/{quote(user, safe='')}", {"password": password, "tags": ""})
    try:
        _permit(vhost, user)
        yield user
    finally:
        _rabbit_api("DELETE", f"/users/{quote(user, safe='')}")
