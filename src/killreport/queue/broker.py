"""The narrow broker interfaces; RabbitBroker and StubBroker implement both.

`JobQueue` is what a worker and the sync commands need (publish, retry, dead-letter, consume);
`QueueAdmin` is what the admin commands need (stats, purges, dead letters); `Broker` is both plus
`close`. Messages are Jobs (see queue.messages). Each kind has one main queue (the original's
names), a few retry tiers that hold a message for a fixed delay and then dead-letter it back to
the main queue, and one dead-letter queue for jobs that cannot succeed.

Errors::

    BrokerError              the broker could not do what was asked
    ├── BrokerUnavailable    could not be reached (after the caller's bounded attempts)
    └── PublishFailed        a publish was nacked, returned unroutable, timed out or lost
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from killreport.ids import Kind

QUEUE_NAMES: Mapping[Kind, str] = {
    "alliance": "alliance_sync_queue",
    "corporation": "corporation_sync_queue",
    "character": "character_sync_queue",
}
DEAD_LETTER_QUEUE = "killreport_dead_letter_queue"


class BrokerError(Exception):
    """The broker could not do what was asked; the message is meant for a human."""


class BrokerUnavailable(BrokerError):
    """The broker could not be reached (after the caller's bounded number of attempts)."""


class PublishFailed(BrokerError):
    """A publish was nacked, returned as unroutable, timed out or lost with its connection."""


@dataclass(frozen=True, slots=True)
class QueueStats:
    """What a queue holds right now."""

    name: str
    ready: int
    consumers: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A job that could not succeed, with why."""

    body: bytes
    kind: str | None
    entity_id: int | None
    reason: str
    attempts: int
    last_error: str
    headers: Mapping[str, Any]


class Delivery(Protocol):
    """One message handed to a consumer; it must be acked or returned exactly once."""

    @property
    def body(self) -> bytes:
        """The message body (an encoded Job)."""
        ...

    @property
    def queue(self) -> str:
        """The queue it came from."""
        ...

    async def ack(self) -> None:
        """Done: the broker forgets it."""
        ...

    async def requeue(self) -> None:
        """Not done: the broker delivers it again (to this or another consumer)."""
        ...


class Publisher(Protocol):
    """What queueing jobs asks of a broker (sync/enqueue.py, a lookup): publishing, nothing else."""

    async def publish(self, queue: str, bodies: Sequence[bytes]) -> None:
        """Publish persistent messages and return once the broker confirmed every one."""
        ...


class JobQueue(Publisher, Protocol):
    """What workers and the sync commands ask of a broker: moving jobs."""

    async def publish_retry(self, queue: str, body: bytes, attempt: int) -> None:
        """Hold a message in the retry tier for `attempt` (1-based), then return it to `queue`."""
        ...

    async def publish_dead(self, letter: DeadLetter) -> None:
        """Put a message in the dead-letter queue, with its reason, attempts and last error."""
        ...

    def consume(
        self, queues: Sequence[str], prefetch: int
    ) -> AbstractAsyncContextManager[AsyncIterator[Delivery]]:
        """Deliveries from the given main queues until the context exits (then stop taking more)."""
        ...


class QueueAdmin(Protocol):
    """What the admin commands (`status`, `purge`, `dlq ...`) ask of a broker."""

    async def stats(self) -> list[QueueStats]:
        """Ready messages and consumers of every queue killreport declares."""
        ...

    async def purge(self) -> dict[str, int]:
        """Empty every main and retry queue; return how many messages each lost."""
        ...

    async def dead_letters(self, limit: int) -> list[DeadLetter]:
        """Up to `limit` dead letters (roughly oldest first), leaving every one of them in the queue."""
        ...

    async def replay_dead(self, kind: Kind | None, limit: int | None) -> int:
        """Move dead letters (of `kind`, at most `limit`) back to their main queue at attempt 0."""
        ...

    async def purge_dead(self) -> int:
        """Empty the dead-letter queue; return how many letters it lost."""
        ...


class Broker(JobQueue, QueueAdmin, Protocol):
    """A connected broker: both roles, and `close`."""

    async def close(self) -> None:
        """Close connections; in-flight unacked deliveries return to their queues."""
        ...
