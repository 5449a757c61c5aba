"""RabbitBroker: the Broker protocol on RabbitMQ through one robust aio-pika connection.

Publishing uses one channel in confirm mode with mandatory=True, so `publish` returns only once
the broker has every message safely queued, and raises (PublishFailed) on a nack, an unroutable
message, a timeout or a connection lost mid-flight: it never silently drops. While the robust
connection is reconnecting, a publish waits for it to come back and publishes again, all within the
publish timeout. A message whose confirm was lost with the connection may therefore be queued
twice, and one that timed out may still have arrived: callers see duplicates, never losses.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from aio_pika.exceptions import (
    AMQPConnectionError,
    ChannelClosed,
    ChannelInvalidStateError,
    ChannelPreconditionFailed,
)

from killreport.config import mask_url
from killreport.ids import Kind
from killreport.queue import rabbit_dlq
from killreport.queue.broker import (
    DEAD_LETTER_QUEUE,
    BrokerError,
    BrokerUnavailable,
    DeadLetter,
    Delivery,
    PublishFailed,
    QueueStats,
)
from killreport.queue.dead import letter_headers
from killreport.queue.rabbit_consume import consuming
from killreport.queue.topology import DEFAULT_RETRY_DELAYS_S, Topology

CONTENT_TYPE = "application/json"
_CONNECTION_LOST = (AMQPConnectionError, ChannelClosed, ChannelInvalidStateError, ConnectionError)
_REPUBLISH_PAUSE_S = 0.1


class RabbitBroker:
    """Broker on RabbitMQ; build it with `await RabbitBroker.connect(url)`."""

    def __init__(
        self,
        connection: AbstractRobustConnection,
        publisher: AbstractRobustChannel,
        topology: Topology,
        publish_timeout_s: float,
    ) -> None:
        self._connection = connection
        self._publisher = publisher
        self._topology = topology
        self._publish_timeout_s = publish_timeout_s

    @classmethod
    async def connect(
        cls,
        url: str,
        retry_delays_s: Sequence[float] = DEFAULT_RETRY_DELAYS_S,
        *,
        declare: bool = True,
        connect_attempts: int = 3,
        connect_delay_s: float = 1.0,
        connect_timeout_s: float = 10.0,
        reconnect_interval_s: float = 5.0,
        publish_timeout_s: float = 30.0,
    ) -> RabbitBroker:
        """Connect (raising BrokerUnavailable after `connect_attempts` failures) and declare the queues."""
        topology = Topology(tuple(retry_delays_s))
        connection = await _open(
            url, connect_attempts, connect_delay_s, connect_timeout_s, reconnect_interval_s
        )
        try:
            publisher = await connection.channel(publisher_confirms=True, on_return_raises=True)
            broker = cls(connection, publisher, topology, publish_timeout_s)
            if declare:
                await broker.declare()
        except BaseException:
            await connection.close()
            raise
        return broker

    @property
    def topology(self) -> Topology:
        """The queues this broker declares and reports on."""
        return self._topology

    async def declare(self) -> None:
        """Declare every queue (idempotent)."""
        async with self._channel() as channel:
            await _declare(channel, self._topology)

    async def publish(self, queue: str, bodies: Sequence[bytes]) -> None:
        """Publish persistent messages concurrently; return once every one is confirmed."""
        results = await asyncio.gather(*(self._send(queue, body) for body in bodies), return_exceptions=True)
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            # Every publish has finished by now; report the first cause, with the extent.
            raise PublishFailed(f"{len(failures)} of {len(bodies)} message(s) not confirmed: {failures[0]}")

    async def publish_retry(self, queue: str, body: bytes, attempt: int) -> None:
        """Park a message in the retry tier for `attempt` (1-based); it returns to `queue` later."""
        await self._send(self._topology.retry_queue(queue, attempt), body)

    async def publish_dead(self, letter: DeadLetter) -> None:
        """Put a message in the dead-letter queue with `x-kr-*` headers saying why."""
        await self._send(DEAD_LETTER_QUEUE, letter.body, letter_headers(letter, dt.datetime.now(dt.UTC)))

    def consume(
        self, queues: Sequence[str], prefetch: int
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Delivery]]:
        """Deliveries from `queues` until the context exits; prefetch applies per queue."""
        return consuming(self._connection, queues, prefetch)

    async def stats(self) -> list[QueueStats]:
        """Ready messages and consumers of every declared queue (passive declares).

        Raises BrokerUnavailable while the connection is down, so callers can wait it out.
        """
        try:
            async with self._channel() as channel:
                stats = []
                for spec in self._topology.all_specs():
                    queue = await rabbit_dlq.existing_queue(channel, spec.name)
                    result = queue.declaration_result
                    stats.append(QueueStats(spec.name, int(result.message_count or 0),
                                            int(result.consumer_count or 0)))
                return stats
        except (*_CONNECTION_LOST, RuntimeError) as exc:
            # aio-pika says "connection closed" with a RuntimeError while it reconnects.
            raise BrokerUnavailable(f"RabbitMQ connection lost: {_describe(exc)}") from exc

    async def purge(self) -> dict[str, int]:
        """Empty every main and retry queue; return how many messages each lost."""
        async with self._channel() as channel:
            lost = {}
            for spec in self._topology.purgeable():
                queue = await rabbit_dlq.existing_queue(channel, spec.name)
                lost[spec.name] = int((await queue.purge()).message_count or 0)
            return lost

    async def dead_letters(self, limit: int) -> list[DeadLetter]:
        """Up to `limit` dead letters (roughly oldest first), leaving every one of them in the queue."""
        async with self._channel() as channel:
            return await rabbit_dlq.peek(channel, limit)

    async def replay_dead(self, kind: Kind | None, limit: int | None) -> int:
        """Move dead letters (of `kind`, at most `limit`) back to their main queue at attempt 0."""
        async with self._channel() as channel:
            return await rabbit_dlq.replay(channel, self._send, kind, limit)

    async def purge_dead(self) -> int:
        """Empty the dead-letter queue; return how many letters it lost."""
        async with self._channel() as channel:
            return await rabbit_dlq.purge(channel)

    async def close(self) -> None:
        """Close the connection; unacked deliveries return to their queues."""
        if not self._connection.is_closed:
            await self._connection.close()

    async def _send(self, queue: str, body: bytes, headers: Mapping[str, Any] | None = None) -> None:
        message = aio_pika.Message(
            body,
            headers=dict(headers) if headers else None,
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            async with asyncio.timeout(self._publish_timeout_s):
                await self._publish_until_confirmed(queue, message)
        except TimeoutError:
            raise PublishFailed(
                f"publish to {queue!r} not confirmed within {self._publish_timeout_s}s"
            ) from None
        except Exception as exc:
            raise PublishFailed(f"publish to {queue!r} failed: {_describe(exc)}") from exc

    async def _publish_until_confirmed(self, queue: str, message: aio_pika.Message) -> None:
        while True:
            await self._publisher.ready()
            try:
                await self._publisher.default_exchange.publish(message, queue, mandatory=True)
                return
            except _CONNECTION_LOST:
                # The robust connection is restoring the channel; publish again once it is back.
                # If the first copy got out before the drop this duplicates it, which consumers
                # tolerate; a nack or an unroutable return is not retried.
                await asyncio.sleep(_REPUBLISH_PAUSE_S)

    @contextlib.asynccontextmanager
    async def _channel(self) -> AsyncIterator[AbstractRobustChannel]:
        # A short-lived channel per operation: a passive declare of a missing queue kills its
        # channel, and that must not take the publisher channel down with it.
        channel = await self._connection.channel(publisher_confirms=False)
        try:
            yield channel
        finally:
            with contextlib.suppress(Exception):
                await channel.close()


async def _open(
    url: str, attempts: int, delay_s: float, timeout_s: float, reconnect_interval_s: float
) -> AbstractRobustConnection:
    """A robust connection, or BrokerUnavailable (password masked) after `attempts` failures."""
    if attempts < 1:
        raise ValueError(f"connect_attempts must be >= 1, got {attempts}")
    error = "no attempt made"
    for attempt in range(1, attempts + 1):
        try:
            return await aio_pika.connect_robust(
                url, timeout=timeout_s, reconnect_interval=reconnect_interval_s
            )
        except Exception as exc:
            error = _scrub(_describe(exc), url)
        if attempt < attempts:
            await asyncio.sleep(delay_s)
    # `from None`: the chained cause could quote the URL, password included.
    raise BrokerUnavailable(
        f"RabbitMQ at {mask_url(url)} is unavailable after {attempts} attempt(s): {error}"
    ) from None


def _describe(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"


def _scrub(text: str, url: str) -> str:
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


async def _declare(channel: AbstractRobustChannel, topology: Topology) -> None:
    """Declare every queue of `topology` (idempotent while the arguments are unchanged)."""
    for spec in topology.all_specs():
        try:
            await channel.declare_queue(spec.name, durable=True, arguments=dict(spec.arguments), robust=False)
        except ChannelPreconditionFailed as exc:
            # Changing the retry delays changes a tier's TTL, which RabbitMQ refuses to redeclare.
            raise BrokerError(
                f"queue {spec.name!r} exists with different arguments ({exc}); "
                "drain and delete it (or restore the previous retry delays) before redeclaring"
            ) from exc
