"""StubBroker: an in-memory Broker for unit tests of workers (the dramatiq-style stub).

Trade-offs, so a test does not assert more than the stub can show:

- Time is explicit. Retries sit in their tier until `advance(seconds)` moves the clock (or
  `release_retries()` is called with an injected clock); nothing happens in the background.
- Ordering is FIFO per queue; a requeued delivery goes back to the front (as quorum queues
  redeliver returns first). There is no redelivery flag and no delivery-count header.
- `publish` accepts the main queues only (RabbitMQ would route to any existing queue).
- Publishes are confirmed instantly; `fail_publish` makes every publish raise instead, for
  "broker down" paths. Connection loss, consumer cancellation and frame sizes are not modelled.
- Prefetch is honoured per consume context, not per queue as on RabbitMQ.
- Every delivery is recorded with how often it was acked and requeued (`deliveries`); settling
  twice raises (as aio-pika does) without being counted, so `acks == 1` means exactly once.
  Deliveries still unsettled when their consume context exits go back to the front of their queue
  and are marked `returned_on_exit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import heapq
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence

from killreport.ids import Kind
from killreport.queue.broker import (
    DEAD_LETTER_QUEUE,
    QUEUE_NAMES,
    DeadLetter,
    Delivery,
    PublishFailed,
    QueueStats,
)
from killreport.queue.dead import letter_from, letter_headers, replay_job
from killreport.queue.messages import encode
from killreport.queue.topology import DEFAULT_RETRY_DELAYS_S, Topology


class StubDelivery:
    """A delivery that remembers how it was settled."""

    def __init__(self, broker: StubBroker, queue: str, body: bytes) -> None:
        self._broker = broker
        self._queue = queue
        self._body = body
        self.acks = 0
        self.requeues = 0
        self.returned_on_exit = False

    @property
    def body(self) -> bytes:
        """The raw message body."""
        return self._body

    @property
    def queue(self) -> str:
        """The queue it came from."""
        return self._queue

    @property
    def settled(self) -> bool:
        """True once acked, requeued, or returned because its consume context ended."""
        return self.acks + self.requeues > 0 or self.returned_on_exit

    async def ack(self) -> None:
        """Record an ack (and raise if it was already settled)."""
        self._check_unsettled()
        self.acks += 1
        self._broker.notify()

    async def requeue(self) -> None:
        """Record a requeue and put the message back at the front of its queue."""
        self._check_unsettled()
        self.requeues += 1
        self._broker.queues[self._queue].appendleft(self._body)
        self._broker.notify()

    def return_on_exit(self) -> None:
        """Put an unsettled message back, as closing a real channel does."""
        if not self.settled:
            self.returned_on_exit = True
            self._broker.queues[self._queue].appendleft(self._body)

    def _check_unsettled(self) -> None:
        if self.returned_on_exit:
            raise RuntimeError(f"delivery {self._body!r} was returned when its consumer stopped")
        if self.acks + self.requeues:
            raise RuntimeError(f"delivery {self._body!r} was already acked or requeued")


class _StubFeed:
    """A consumer's deliveries; a class, not a generator, so a cancelled `anext` ends nothing."""

    def __init__(self, broker: StubBroker, queues: list[str], prefetch: int) -> None:
        self._broker, self._queues, self._prefetch = broker, queues, prefetch
        self._mine: list[StubDelivery] = []
        self._turn = 0
        self._stopped = False

    def __aiter__(self) -> _StubFeed:
        return self

    async def __anext__(self) -> Delivery:
        while True:
            if self._stopped or self._broker.closed:
                raise StopAsyncIteration
            delivery = self._next()
            if delivery is not None:
                return delivery
            await self._broker.changed()

    def _next(self) -> StubDelivery | None:
        if sum(not d.settled for d in self._mine) >= self._prefetch:
            return None
        order = self._queues[self._turn :] + self._queues[: self._turn]
        ready = [q for q in order if self._broker.queues[q]]
        if not ready:
            return None
        self._turn = (self._queues.index(ready[0]) + 1) % len(self._queues)
        delivery = StubDelivery(self._broker, ready[0], self._broker.queues[ready[0]].popleft())
        self._mine.append(delivery)
        self._broker.deliveries.append(delivery)
        return delivery

    def stop(self) -> None:
        """End the stream and put back what is unsettled, as closing a real channel does."""
        self._stopped = True
        for delivery in reversed(self._mine):
            delivery.return_on_exit()
        self._broker.notify()


class StubBroker:
    """In-memory Broker: queues are deques, retry tiers a timed heap, the DLQ a list."""

    def __init__(
        self,
        retry_delays_s: Sequence[float] = DEFAULT_RETRY_DELAYS_S,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.topology = Topology(tuple(retry_delays_s))
        self._manual_now = 0.0
        self._clock = clock or (lambda: self._manual_now)
        self.queues: dict[str, deque[bytes]] = {name: deque() for name in self.topology.main_queues}
        self.dead: list[DeadLetter] = []
        self.deliveries: list[StubDelivery] = []
        self.fail_publish: BaseException | None = None
        self.closed = False
        self._retrying: list[tuple[float, int, str, str, bytes]] = []  # due, seq, tier, main, body
        self._sequence = 0
        self._consumers: dict[str, int] = dict.fromkeys(self.topology.main_queues, 0)
        self._changed = asyncio.Event()

    def notify(self) -> None:
        """Wake consumers waiting for messages or free prefetch slots."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self) -> None:
        """Wait until something a consumer cares about changes."""
        await self._changed.wait()

    def advance(self, seconds: float) -> int:
        """Move the built-in clock forward and release due retries; return how many returned."""
        self._manual_now += seconds
        return self.release_retries()

    def release_retries(self, *, all_: bool = False) -> int:
        """Return due retries (or every one, with `all_`) to their main queues, oldest first."""
        now, released = self._clock(), 0
        while self._retrying and (all_ or self._retrying[0][0] <= now):
            _, _, _, main, body = heapq.heappop(self._retrying)
            self.queues[main].append(body)
            released += 1
        if released:
            self.notify()
        return released

    def retrying(self, main: str | None = None) -> list[bytes]:
        """Bodies parked in retry tiers (of `main`, if given), in due order."""
        return [body for _, _, _, queue, body in sorted(self._retrying) if main in (None, queue)]

    def acked(self) -> list[bytes]:
        """Bodies of deliveries acked so far, in delivery order."""
        return [d.body for d in self.deliveries if d.acks]

    async def publish(self, queue: str, bodies: Sequence[bytes]) -> None:
        """Append to a main queue at once (confirmed), or raise like an unroutable publish."""
        self._check_publish(queue)
        self.queues[queue].extend(bodies)
        self.notify()

    async def publish_retry(self, queue: str, body: bytes, attempt: int) -> None:
        """Park a message in its tier until the clock passes the tier's delay."""
        self._check_publish(queue)
        tier = self.topology.retry_queue(queue, attempt)
        delay = self.topology.retry_delay_s(attempt)
        self._sequence += 1
        heapq.heappush(self._retrying, (self._clock() + delay, self._sequence, tier, queue, body))

    async def publish_dead(self, letter: DeadLetter) -> None:
        """Store the letter with the same headers RabbitBroker would set."""
        self._check_publish(DEAD_LETTER_QUEUE)
        headers = letter_headers(letter, dt.datetime.now(dt.UTC))
        self.dead.append(letter_from(letter.body, headers))

    @contextlib.asynccontextmanager
    async def consume(self, queues: Sequence[str], prefetch: int) -> AsyncIterator[AsyncIterator[Delivery]]:
        """Deliveries from `queues` (round robin) while fewer than `prefetch` are unsettled."""
        for name in queues:
            self._check_known(name)
            self._consumers[name] += 1
        feed = _StubFeed(self, list(queues), prefetch)
        try:
            yield feed
        finally:
            for name in queues:
                self._consumers[name] -= 1
            feed.stop()

    async def stats(self) -> list[QueueStats]:
        """Ready counts of main, retry and dead-letter queues, as RabbitBroker reports them."""
        stats = [QueueStats(q, len(self.queues[q]), self._consumers[q]) for q in self.topology.main_queues]
        for main in self.topology.main_queues:
            for spec in self.topology.retry_specs(main):
                held = sum(1 for entry in self._retrying if entry[2] == spec.name)
                stats.append(QueueStats(spec.name, held, 0))
        stats.append(QueueStats(DEAD_LETTER_QUEUE, len(self.dead), 0))
        return stats

    async def purge(self) -> dict[str, int]:
        """Empty main queues and retry tiers; return how many each lost."""
        lost = {stat.name: stat.ready for stat in await self.stats() if stat.name != DEAD_LETTER_QUEUE}
        for queue in self.queues.values():
            queue.clear()
        self._retrying.clear()
        return lost

    async def dead_letters(self, limit: int) -> list[DeadLetter]:
        """The first `limit` dead letters (none removed)."""
        return list(self.dead[:limit])

    async def replay_dead(self, kind: Kind | None, limit: int | None) -> int:
        """Move matching valid letters to their main queue at attempt 0, oldest first."""
        kept: list[DeadLetter] = []
        moved = 0
        for letter in self.dead:
            job = None if limit is not None and moved >= limit else replay_job(letter.body, kind)
            if job is None:
                kept.append(letter)
                continue
            await self.publish(QUEUE_NAMES[job.kind], [encode(job)])
            moved += 1
        self.dead = kept
        return moved

    async def purge_dead(self) -> int:
        """Drop every dead letter; return how many there were."""
        count, self.dead = len(self.dead), []
        return count

    async def close(self) -> None:
        """Stop every consumer; later publishes fail."""
        self.closed = True
        self.notify()

    def _check_publish(self, queue: str) -> None:
        if self.closed:
            raise PublishFailed("stub broker is closed")
        if self.fail_publish is not None:
            raise self.fail_publish
        if queue != DEAD_LETTER_QUEUE:
            self._check_known(queue)

    def _check_known(self, queue: str) -> None:
        if queue not in self.queues:
            raise PublishFailed(f"publish to {queue!r} failed: no such queue (NO_ROUTE)")
