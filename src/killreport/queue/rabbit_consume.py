"""Consuming from RabbitMQ: consumers feed a bounded buffer that the worker iterates.

Shutdown order matters: cancel the consumers (so nothing new arrives), return what sits in the
buffer, and only then close the channel, which returns whatever the worker still holds unacked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Final

from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aio_pika.exceptions import ChannelInvalidStateError

from killreport.queue.broker import Delivery

# Shutdown must not hang on a broker that is gone: the channel's death returns messages anyway.
SHUTDOWN_STEP_TIMEOUT_S: Final = 5.0


class RabbitDelivery:
    """One message from RabbitMQ; it must be settled (acked or requeued) exactly once."""

    __slots__ = ("_message", "_queue", "_settled")

    def __init__(self, message: AbstractIncomingMessage, queue: str) -> None:
        self._message = message
        self._queue = queue
        self._settled = False

    @property
    def body(self) -> bytes:
        """The raw message body."""
        return self._message.body

    @property
    def queue(self) -> str:
        """The queue it came from."""
        return self._queue

    @property
    def stale(self) -> bool:
        """True once its channel died: the broker has already put the message back."""
        try:
            return bool(self._message.channel.is_closed)
        except ChannelInvalidStateError:  # aio-pika raises rather than answer for a dead channel
            return True

    async def ack(self) -> None:
        """Tell the broker the job is done (after its commit)."""
        self._settle()
        await self._message.ack()

    async def requeue(self) -> None:
        """Give the message back to its queue for another try."""
        self._settle()
        await self._message.nack(requeue=True)

    def _settle(self) -> None:
        if self._settled:
            raise RuntimeError(f"delivery from {self._queue!r} was already acked or requeued")
        self._settled = True


class DeliveryFeed:
    """The async iterator a consumer context yields; ends when the context exits."""

    def __init__(self, capacity: int) -> None:
        # One slot more than prefetch allows in flight, for the end-of-stream marker.
        self._buffer: asyncio.Queue[RabbitDelivery | None] = asyncio.Queue(maxsize=capacity + 1)
        self._closing = False

    async def offer(self, queue: str, message: AbstractIncomingMessage) -> None:
        """Buffer a message from a consumer callback, or return it if the feed is shutting down."""
        if self._closing or self._buffer.full():
            await _give_back(RabbitDelivery(message, queue))
            return
        self._buffer.put_nowait(RabbitDelivery(message, queue))

    def __aiter__(self) -> DeliveryFeed:
        return self

    async def __anext__(self) -> Delivery:
        while True:
            # Cancelling this wait loses nothing: Queue.get only removes an item when it returns it.
            item = await self._buffer.get()
            if item is None:
                self._buffer.put_nowait(None)  # keep the stream ended for every later reader
                raise StopAsyncIteration
            if not item.stale:
                return item

    async def close(self) -> None:
        """Return everything not yet handed out, and end the stream."""
        self._closing = True
        while not self._buffer.empty():
            item = self._buffer.get_nowait()
            if item is not None and not item.stale:
                await _give_back(item)
        self._buffer.put_nowait(None)


async def _give_back(delivery: RabbitDelivery) -> None:
    # A failed nack means the channel is gone, and with it the broker has requeued the message.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(delivery.requeue(), SHUTDOWN_STEP_TIMEOUT_S)


@contextlib.asynccontextmanager
async def consuming(
    connection: AbstractRobustConnection, queues: Sequence[str], prefetch: int
) -> AsyncIterator[AsyncIterator[Delivery]]:
    """Consume `queues` on a channel of its own; prefetch applies per queue (quorum queues
    support no channel-wide QoS), so at most `prefetch * len(queues)` messages are in flight."""
    if prefetch < 1 or not queues:
        raise ValueError(f"need at least one queue and prefetch >= 1, got {list(queues)} and {prefetch}")
    channel = await connection.channel(publisher_confirms=False)
    feed = DeliveryFeed(prefetch * len(queues))
    consumers: list[tuple[AbstractQueue, str]] = []
    try:
        await channel.set_qos(prefetch_count=prefetch)
        for name in queues:
            queue = await channel.get_queue(name, ensure=True)
            consumers.append((queue, await queue.consume(_callback(feed, name))))
        yield feed
    finally:
        await _stop(connection, consumers, feed, channel)


async def _stop(
    connection: AbstractRobustConnection,
    consumers: list[tuple[AbstractQueue, str]],
    feed: DeliveryFeed,
    channel: AbstractRobustChannel,
) -> None:
    """Cancel consumers, return the buffer, close the channel: in that order, never hanging."""
    # With the connection down, waiting for it helps nobody: its loss already returned everything.
    alive = not connection.is_closed and connection.connected.is_set()
    if alive and consumers:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(SHUTDOWN_STEP_TIMEOUT_S):
                await asyncio.gather(*(queue.cancel(tag) for queue, tag in consumers))
    await feed.close()
    if alive:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(channel.close(), SHUTDOWN_STEP_TIMEOUT_S)


def _callback(feed: DeliveryFeed, queue: str) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
    async def on_message(message: AbstractIncomingMessage) -> None:
        await feed.offer(queue, message)

    return on_message
