"""Fixtures and helpers shared by the test_rabbit_* modules; it holds no tests itself.

Named test_rabbit_* only so it lives among the files the queue layer owns.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from killreport.queue.broker import Delivery
from killreport.queue.rabbit import RabbitBroker
from tests import services

# Short tiers so a retry round trip fits in a test; a private vhost because other tests in the
# session may declare the same queues with the default (longer) tiers.
SHORT_TIERS = (1, 2)
ALLIANCES = "alliance_sync_queue"
CORPS = "corporation_sync_queue"
T = TypeVar("T")


@pytest.fixture(scope="module")
def vhost() -> Iterator[tuple[str, str]]:
    """A vhost shared by one test module: its name and AMQP URL."""
    name = services.unique_name("kr_queue")
    yield name, services.create_vhost(name)
    services.delete_vhost(name)


@pytest.fixture
def url(vhost: tuple[str, str]) -> str:
    """The AMQP URL of the module's vhost."""
    return vhost[1]


@pytest.fixture
async def broker(url: str) -> AsyncIterator[RabbitBroker]:
    """A connected broker with short tiers and every queue empty."""
    broker = await connect(url)
    await broker.purge()
    await broker.purge_dead()
    yield broker
    await broker.close()


async def connect(url: str) -> RabbitBroker:
    """A broker on `url` with short tiers that reconnects quickly."""
    return await RabbitBroker.connect(url, SHORT_TIERS, connect_attempts=1, reconnect_interval_s=0.2)


async def take(deliveries: AsyncIterator[Delivery], n: int, timeout_s: float = 5.0) -> list[Delivery]:
    """The next `n` deliveries, or TimeoutError."""
    async with asyncio.timeout(timeout_s):
        return [await anext(deliveries) for _ in range(n)]


async def eventually(check: Callable[[], Awaitable[T]], expected: T, timeout_s: float = 5.0) -> T:
    """Poll `check` until it returns `expected` or time runs out; return its last value.

    Returns and acks reach a quorum queue asynchronously (through Raft), so counts and basic.get
    right after a settle can lag for a moment; there is no event to await for it.
    """
    deadline = time.monotonic() + timeout_s
    value = await check()
    for _ in range(int(timeout_s / 0.05)):
        if value == expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
        value = await check()
    return value


async def ready(broker: RabbitBroker, queue: str) -> int:
    """Ready messages in `queue`."""
    return next(s.ready for s in await broker.stats() if s.name == queue)


def drop_connections(vhost_name: str) -> int:
    """Close, server-side, every connection to the test's own vhost; return how many."""
    listed = rabbitmqctl("list_connections", "pid", "vhost").splitlines()
    pids = [line.split("\t")[0] for line in listed if line.endswith("\t" + vhost_name)]
    for pid in pids:
        rabbitmqctl("close_connection", pid, "test: dropped on purpose")
    return len(pids)


def rabbitmqctl(*args: str) -> str:
    """Run a read-only or vhost-scoped rabbitmqctl command and return its output."""
    command = ["rabbitmqctl", "-q", *args]
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=30)
    return done.stdout


class Proxy:
    """A TCP proxy to RabbitMQ that a test can cut and restore: a broker outage for one client."""

    def __init__(self, target_port: int = 5672) -> None:
        self._target_port = target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        """Listen (again, on the same port once one was chosen)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop listening and drop every open connection."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    def url(self, amqp_url: str) -> str:
        """`amqp_url` rewritten to go through this proxy."""
        return amqp_url.replace("127.0.0.1:5672", f"127.0.0.1:{self.port}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
