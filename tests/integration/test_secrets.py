"""Secrets stay out of logs, `status` and error messages, at DEBUG level too, on every path tried.

PostgreSQL here trusts local connections, so any password in DATABASE_URL connects; RabbitMQ gets
a user of its own with a password, on the test's vhost, removed afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from killreport.sim.testing import running_sim
from tests import services
from tests.cluster import Done, cli_here, env_for, migrated, workers

pytestmark = pytest.mark.timeout(180)
SECRET = f"Pw-{uuid.uuid4().hex[:12]}"


def with_credentials(url: str, user: str, password: str) -> str:
    """`url` with this user and password."""
    parts = urlsplit(url)
    host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    return urlunsplit((parts.scheme, f"{user}:{password}@{host}", parts.path, parts.query, ""))


@pytest.fixture
def rabbit_user(fresh_rabbit_url: str) -> Iterator[str]:
    """A RabbitMQ user with password SECRET on the test vhost; its AMQP URL."""
    with services.rabbit_user(fresh_rabbit_url, SECRET) as user:
        yield with_credentials(fresh_rabbit_url, user, SECRET)


@pytest.fixture
async def env(fresh_pg_url: str, rabbit_user: str) -> AsyncIterator[dict[str, str]]:
    """A migrated database and a vhost, both reached with SECRET in the URL, DEBUG logs."""
    async with running_sim(alliances=2) as sim:
        pg = with_credentials(fresh_pg_url, urlsplit(fresh_pg_url).username or "root", SECRET)
        environment = env_for(pg, rabbit_user, sim.base_url, LOG_LEVEL="DEBUG")
        await migrated(pg)
        yield environment


def assert_clean(done: Done, *what: str) -> None:
    """Neither output stream carries the secret."""
    assert SECRET not in done.out and SECRET not in done.err, (what, done.out[-2000:], done.err[-2000:])


async def test_commands_and_a_working_worker_never_show_the_password(env: dict[str, str]) -> None:
    for args in (["status"], ["status", "--json"], ["queue", "alliance", "99000001"], ["dlq", "list"],
                 ["migrate"]):
        done = await cli_here(env, *args)
        assert done.code == 0, (args, done.err[-2000:])
        assert_clean(done, *args)
    async with workers(env, 1) as [proc]:
        synced = await cli_here(env, "sync-all", "--wait", timeout_s=120)
        assert synced.code == 0, synced.err[-2000:]
        assert_clean(synced, "sync-all")
    assert proc.returncode == 0
    log = proc.log
    assert "worker consuming" in log, "the worker's log was not captured: nothing was checked"
    assert SECRET not in log, log[-3000:]


@pytest.mark.parametrize("broken", [
    {"DATABASE_URL": f"postgresql://root:{SECRET}@127.0.0.1:1/nowhere"},
    {"RABBITMQ_URL": f"amqp://guest:{SECRET}@127.0.0.1:1/"},
    {"DATABASE_URL": f"mysql://root:{SECRET}@127.0.0.1/x"},
    {"ESI_ERROR_FLOOR": "lots", "DATABASE_URL": f"postgresql://root:{SECRET}@127.0.0.1:1/x"},
])
async def test_failures_name_the_service_not_the_password(env: dict[str, str],
                                                           broken: dict[str, str]) -> None:
    for args in (["status"], ["sync-alliances"]):
        done = await cli_here({**env, **broken}, *args, timeout_s=60)
        assert done.code != 0 and done.err.strip(), (args, done)
        assert_clean(done, *args)
    assert_clean(await cli_here({**env, **broken}, "dlq", "list", timeout_s=60), "dlq list")  # RabbitMQ only


async def test_a_worker_waiting_for_its_database_logs_without_the_password(env: dict[str, str]) -> None:
    broken = {**env, "DATABASE_URL": f"postgresql://root:{SECRET}@127.0.0.1:1/nowhere"}
    async with workers(broken, 1) as [proc]:
        await proc.until_logged("unavailable", "unreachable")  # a failed attempt and its log line
    log = proc.log
    assert "unavailable" in log or "unreachable" in log, log[-2000:]
    assert SECRET not in log, log[-3000:]
