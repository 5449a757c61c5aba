"""Dead-letter queue operations on RabbitMQ: look without losing, replay without losing, purge.

Letters are taken with basic.get and held unacked; whatever is not moved is returned with one
multiple-nack, so a crash (or an error) at any point leaves every letter where it was. A replayed
letter is acked only after its copy on the main queue is confirmed: a crash duplicates, never loses.

Order is kept only roughly: a quorum queue applies returns asynchronously, so letters returned by
one listing can end up behind letters it did not reach if another listing follows at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustChannel
from aio_pika.exceptions import ChannelNotFoundEntity

from killreport.ids import Kind
from killreport.queue.broker import DEAD_LETTER_QUEUE, QUEUE_NAMES, BrokerError, DeadLetter
from killreport.queue.dead import letter_from, replay_job
from killreport.queue.messages import encode

Publish = Callable[[str, bytes], Awaitable[None]]


async def peek(channel: AbstractRobustChannel, limit: int) -> list[DeadLetter]:
    """Up to `limit` letters (roughly oldest first), all returned to the queue afterwards."""
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    queue = await existing_queue(channel, DEAD_LETTER_QUEUE)
    held: list[AbstractIncomingMessage] = []
    try:
        # Held letters stay unacked until the end, so basic.get never hands one out twice.
        while len(held) < limit:
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            held.append(message)
        return [letter_from(message.body, message.headers) for message in held]
    finally:
        await _return(held)


async def replay(
    channel: AbstractRobustChannel, publish: Publish, kind: Kind | None, limit: int | None
) -> int:
    """Move matching letters to their main queue at attempt 0; return how many moved."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    queue = await existing_queue(channel, DEAD_LETTER_QUEUE)
    held: list[AbstractIncomingMessage] = []
    moved = 0
    try:
        while limit is None or moved < limit:
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            job = replay_job(message.body, kind)
            if job is None:
                held.append(message)  # not a valid job, or another kind: it stays dead
                continue
            await publish(QUEUE_NAMES[job.kind], encode(job))
            await message.ack()
            moved += 1
    finally:
        await _return(held)
    return moved


async def purge(channel: AbstractRobustChannel) -> int:
    """Empty the dead-letter queue; return how many letters were removed."""
    queue = await existing_queue(channel, DEAD_LETTER_QUEUE)
    result = await queue.purge()
    return int(result.message_count or 0)


async def existing_queue(channel: AbstractRobustChannel, name: str) -> AbstractQueue:
    """A passive declare: the queue with its counts, or BrokerError if it was never declared."""
    try:
        return await channel.declare_queue(name, passive=True, robust=False)
    except ChannelNotFoundEntity:
        raise BrokerError(f"queue {name!r} does not exist; declare the queues first") from None


async def _return(held: list[AbstractIncomingMessage]) -> None:
    if not held:
        return
    # If this fails the channel is closing, and closing returns every unacked letter anyway.
    with contextlib.suppress(Exception):
        await held[-1].nack(multiple=True, requeue=True)
