"""TableQueue: the Broker protocol on the SQLite file, for the embedded mode (no RabbitMQ).

A message is a row of queue_messages; store/sqlite/queue.py holds the SQL (and is all of the SQLite
store used here) and says how retry tiers are rows with a later `not_before`. Trade-offs, decided here:

- One consumer per file. The runner holds runner_lock.RunnerLock, so only this process consumes;
  what it has handed out is remembered in memory (not written), and acking deletes the row. A
  crash therefore loses nothing: every row not yet acked is still there for the next runner. Two
  TableQueues consuming one file would hand out the same rows twice: that is what the lock forbids.
- Any process may publish (`sync-all` in another terminal): publishes are plain inserts, seen by
  the consumer's next poll. Publishes from this process wake it at once.
- Polling: immediately while there is work, every `poll_s` when idle. A poll is one statement
  that reads only the oldest ready rows through the (queue, not_before, seq) index, a whole
  prefetch at a time; acks arriving together are deleted in one transaction (_Acks).
- Cost, measured by `.venv/bin/python bench/table_queue.py --concurrency 16` (consume + ack only)
  on a 2-core VM busy with other work (load 6-10): through aiosqlite 1,000-1,400 jobs/s and
  230-250 us of CPU a job (one ack per transaction instead: 730 jobs/s, 1,150 us); on
  store/sqlite/driver.py's connections (sqlite3 on the loop's thread) 2,300 jobs/s, 170 us. At
  concurrency 1, where nothing can be batched, 110-220 jobs/s.
- `ready` in stats counts rows, handed out or not: another process cannot see what is in flight.
  `consumers` is 1 for a queue this process consumes, or for every main queue while another
  process holds the runner lock.
- Delivery order is oldest `not_before` first per queue; across queues, characters first and the
  others in turn (queue/order.py says why); a requeued message keeps its place, so it comes back
  first.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Final

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from killreport.ids import Kind
from killreport.queue.broker import (
    DEAD_LETTER_QUEUE,
    QUEUE_NAMES,
    BrokerError,
    DeadLetter,
    Delivery,
    PublishFailed,
    QueueStats,
)
from killreport.queue.dead import MAX_ERROR_CHARS, letter_from, letter_headers, replay_job
from killreport.queue.messages import encode
from killreport.queue.order import LEAVES, delivery_order
from killreport.queue.topology import DEFAULT_RETRY_DELAYS_S, Topology
from killreport.runner_lock import holder
from killreport.store.sqlite import queue as sql

POLL_S: Final = 0.2  # an idle consumer sees another process's publish within this
_REPLAY_PAGE: Final = 500  # dead letters moved per transaction


class TableDelivery:
    """One row handed to the consumer; ack deletes it, requeue makes it ready again."""

    def __init__(self, owner: TableQueue, row: sql.Row, main: str) -> None:
        self._owner, self._row, self._main = owner, row, main
        self.settled = False
        self.returned_on_exit = False

    @property
    def body(self) -> bytes:
        """The raw message body."""
        return self._row.body

    @property
    def queue(self) -> str:
        """The main queue it came from (also for a retry that came due)."""
        return self._main

    async def ack(self) -> None:
        """Delete the row; if that fails the delivery stays unsettled, so it can still be requeued."""
        self._check_unsettled()
        await self._owner.acks.delete(self._row)
        self._settle()

    async def requeue(self) -> None:
        """Hand the row out again (it never left the table)."""
        self._check_unsettled()
        self._settle()

    def release(self) -> None:
        """Give the row back unsettled, as closing a RabbitMQ channel does."""
        if not self.settled:
            self.returned_on_exit = True
            self._owner.forget(self._row.seq)

    def _settle(self) -> None:
        self.settled = True
        self._owner.forget(self._row.seq)

    def _check_unsettled(self) -> None:
        if self.returned_on_exit:
            raise RuntimeError(f"delivery from {self._main!r} was returned when its consumer stopped")
        if self.settled:
            raise RuntimeError(f"delivery from {self._main!r} was already acked or requeued")


class _Acks:
    """Acks deleted together: whatever arrives while one delete commits goes in the next one.

    Why: each commit is a turn at the file's write lock (and, through aiosqlite, was several hand-offs
    to its thread), so sixteen tasks acking one by one queued behind each other and the store's writes.
    """

    def __init__(self, connections: sql.Connections) -> None:
        self._connections = connections
        self._waiting: list[tuple[sql.Row, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def delete(self, row: sql.Row) -> None:
        """Return once the row's delete committed (or raise what the database said)."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((row, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            # The row may still be deleted: the delivery stays unsettled, and a requeue is harmless.
            done.add_done_callback(_retrieve)
            raise

    async def settled(self) -> None:
        """Wait for the deletes under way (before the engine is disposed)."""
        if self._writer is not None:
            await asyncio.wait([self._writer])

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                async with self._connections.autocommit() as conn:  # one transaction (sql's)
                    await sql.delete_messages(conn, [row for row, _ in batch])
            except Exception as exc:  # every waiter's ack failed: each raises it
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)


class _TableFeed:
    """A consumer's deliveries; a class, not a generator, so a cancelled `anext` ends nothing."""

    def __init__(self, owner: TableQueue, mains: list[str], prefetch: int) -> None:
        self._owner, self._mains, self._prefetch = owner, mains, prefetch
        self._buffer: deque[TableDelivery] = deque()  # fetched and held, not yet handed out
        self._out: list[TableDelivery] = []
        self._turn = 0
        self._stopped = False

    def __aiter__(self) -> _TableFeed:
        return self

    async def __anext__(self) -> Delivery:
        while True:
            if self._stopped or self._owner.closed:
                raise StopAsyncIteration
            self._out = [d for d in self._out if not d.settled]
            room = self._prefetch - len(self._out)
            if room > 0 and not self._buffer:
                # A whole prefetch at once, not just the free slots: one query per batch, not per job.
                await self._fill(self._prefetch)
            if room > 0 and self._buffer:
                delivery = self._buffer.popleft()
                self._out.append(delivery)
                return delivery
            await self._owner.changed(self._owner.poll_s)

    async def _fill(self, room: int) -> None:
        """Fetch up to `room` ready rows, in queue/order.py's order across the queues, and hold them."""
        async with self._owner.connections.connect() as conn:
            rows = await sql.ready(conn, self._mains, time.time(), self._owner.held, room)
        # Nothing awaited from here on: a cancelled anext cannot lose rows it has just held.
        by_main: dict[str, list[sql.Row]] = {m: [] for m in self._mains}
        for row in rows:
            by_main[self._owner.main_of(row.queue)].append(row)
        turn = self._mains[self._turn:] + self._mains[:self._turn]
        ready = {main: len(found) for main, found in by_main.items()}
        unread = {main: iter(found) for main, found in by_main.items()}
        for main in delivery_order(ready, turn, LEAVES, room):
            self._take(next(unread[main]), main)
        self._turn = (self._turn + 1) % len(self._mains)

    def _take(self, row: sql.Row, main: str) -> None:
        self._owner.held.add(row.seq)
        self._buffer.append(TableDelivery(self._owner, row, main))

    def stop(self) -> None:
        """End the stream and give back everything held, as closing a real channel does."""
        self._stopped = True
        for delivery in [*self._out, *self._buffer]:
            delivery.release()
        self._buffer.clear()
        self._owner.notify()


class TableQueue:
    """Broker on the SQLite file's queue tables; the engine is the caller's (close leaves it open)."""

    def __init__(self, engine: AsyncEngine, retry_delays_s: Sequence[float] = DEFAULT_RETRY_DELAYS_S,
                 *, poll_s: float = POLL_S, lend: bool = False) -> None:
        self.engine = engine
        # The consumer's polls, publishes and acks: on one connection lent in turn (`lend`: the
        # runner's queue, closed with it; store/sqlite/lent.py says why), else from the pool.
        self.connections = sql.connections(engine, lend=lend)
        self.topology = Topology(tuple(retry_delays_s))
        self.poll_s = poll_s
        self.held: set[int] = set()  # seqs handed out (or buffered) and not yet settled
        self.acks = _Acks(self.connections)
        self.closed = False
        self._consuming: dict[str, int] = dict.fromkeys(self.topology.main_queues, 0)
        self._changed = asyncio.Event()
        database = engine.url.database
        self._db_path = Path(database) if database and database != ":memory:" else None

    def notify(self) -> None:
        """Wake this process's consumers: a publish, a settle or a stop."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, timeout_s: float) -> None:
        """Wait until notified, or `timeout_s` (another process may have published)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout_s)

    def forget(self, seq: int) -> None:
        """A delivery was settled or given back: its row may be handed out again (if still there)."""
        self.held.discard(seq)
        self.notify()

    def main_of(self, stored: str) -> str:
        """The main queue a stored queue name (a main queue or one of its tiers) belongs to."""
        if stored in self._consuming:
            return stored
        return next(m for m in self.topology.main_queues if stored.startswith(sql.tier_prefix(m)))

    async def publish(self, queue: str, bodies: Sequence[bytes]) -> None:
        """Insert the messages in one transaction; they are ready at once."""
        self._check_publish(queue, main_only=True)
        await self._insert(queue, bodies, time.time())

    async def publish_retry(self, queue: str, body: bytes, attempt: int) -> None:
        """Park a message in `attempt`'s tier: a row that becomes ready after the tier's delay."""
        self._check_publish(queue, main_only=False)
        tier = self.topology.retry_queue(queue, attempt)
        await self._insert(tier, [body], time.time() + self.topology.retry_delay_s(attempt))

    async def publish_dead(self, letter: DeadLetter) -> None:
        """Store the letter with the same headers RabbitBroker would set."""
        self._check_publish(DEAD_LETTER_QUEUE, main_only=False)
        now = time.time()
        headers = letter_headers(letter, dt.datetime.fromtimestamp(now, dt.UTC))
        values = {"body": letter.body, "kind": letter.kind, "entity_id": letter.entity_id,
                  "reason": letter.reason, "attempts": letter.attempts,
                  "last_error": letter.last_error[:MAX_ERROR_CHARS],
                  # Caller headers may hold what JSON cannot (bytes): kept as their text.
                  "headers": json.dumps(headers, default=str), "dead_at": now}
        try:
            async with self.engine.begin() as conn:
                await sql.insert_dead(conn, values)
        except DBAPIError as exc:
            raise PublishFailed(f"dead-lettering failed: {_cause(exc)}") from exc

    async def _insert(self, queue: str, bodies: Sequence[bytes], not_before: float) -> None:
        try:
            async with self.connections.autocommit() as conn:  # one transaction (sql's)
                await sql.insert_messages(conn, queue, bodies, not_before)
        except DBAPIError as exc:
            raise PublishFailed(f"publish to {queue!r} failed: {_cause(exc)}") from exc
        self.notify()

    @contextlib.asynccontextmanager
    async def consume(self, queues: Sequence[str], prefetch: int) -> AsyncIterator[AsyncIterator[Delivery]]:
        """Deliveries from `queues` while fewer than `prefetch` are unsettled (caller holds the lock)."""
        if not queues or prefetch < 1:
            raise ValueError(f"need at least one queue and prefetch >= 1, got {list(queues)} and {prefetch}")
        for name in queues:
            if name not in self._consuming:
                raise BrokerError(f"cannot consume {name!r}: not a main queue")
        for name in queues:
            self._consuming[name] += 1
        feed = _TableFeed(self, list(queues), prefetch)
        try:
            yield feed
        finally:
            for name in queues:
                self._consuming[name] -= 1
            feed.stop()

    async def stats(self) -> list[QueueStats]:
        """Rows per main queue (due retries included), per retry tier (not yet due), dead letters."""
        async with self._reading() as conn:
            held = _tally(self.topology, await sql.counts(conn, time.time()))
            dead = await sql.count_dead(conn)
        runner = self._db_path is not None and holder(self._db_path) is not None
        return [*(QueueStats(name, ready, int(runner or self._consuming.get(name, 0) > 0))
                  for name, ready in held.items() if name in self._consuming),
                *(QueueStats(name, ready, 0) for name, ready in held.items() if name not in self._consuming),
                QueueStats(DEAD_LETTER_QUEUE, dead, 0)]

    async def purge(self) -> dict[str, int]:
        """Delete every main and retry message (in flight too); return how many each queue lost."""
        try:
            async with sql.immediate(self.engine) as conn:
                lost = _tally(self.topology, await sql.counts(conn, time.time()))
                await sql.delete_queues(conn, self.topology.main_queues)
        except DBAPIError as exc:
            raise BrokerError(f"purging the queues failed: {_cause(exc)}") from exc
        return lost

    async def dead_letters(self, limit: int) -> list[DeadLetter]:
        """Up to `limit` dead letters, oldest first, leaving every one of them in place."""
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        async with self._reading() as conn:
            stored = await sql.peek_dead(conn, limit)
        return [letter_from(letter.body, json.loads(letter.headers)) for letter in stored]

    async def replay_dead(self, kind: Kind | None, limit: int | None) -> int:
        """Move dead letters (of `kind`, at most `limit`) back to their main queue at attempt 0."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        moved, after = 0, 0
        while limit is None or moved < limit:
            async with self._reading() as conn:
                page = await sql.peek_dead(conn, _REPLAY_PAGE, after)
            if not page:
                break
            moved += await self._replay_page(page, kind, None if limit is None else limit - moved)
            after = page[-1].seq
        if moved:
            self.notify()
        return moved

    async def _replay_page(self, page: list[sql.Letter], kind: Kind | None, limit: int | None) -> int:
        """Move a page's matching letters, each deleted and enqueued in one transaction."""
        moved, now = 0, time.time()
        async with self.engine.begin() as conn:
            for letter in page:
                job = replay_job(letter.body, kind)
                if job is None or (limit is not None and moved >= limit):
                    continue
                # Only the process whose delete took the letter enqueues it: no double replay.
                if await sql.delete_dead(conn, letter.seq):
                    await sql.insert_messages(conn, QUEUE_NAMES[job.kind], [encode(job)], now)
                    moved += 1
        return moved

    async def purge_dead(self) -> int:
        """Delete every dead letter; return how many there were."""
        async with self.engine.begin() as conn:
            return await sql.delete_dead(conn)

    async def close(self) -> None:
        """Stop every consumer (their held rows stay in the table); later publishes fail."""
        self.closed = True
        self.notify()
        await self.acks.settled()
        await self.connections.close()

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for the admin reads; a database error becomes a BrokerError."""
        try:
            async with self.engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise BrokerError(f"reading the queue tables failed: {_cause(exc)}") from exc

    def _check_publish(self, queue: str, *, main_only: bool) -> None:
        if self.closed:
            raise PublishFailed("the table queue is closed")
        if queue not in self._consuming and (main_only or queue != DEAD_LETTER_QUEUE):
            raise PublishFailed(f"publish to {queue!r} failed: no such queue (NO_ROUTE)")


def _retrieve(done: asyncio.Future[None]) -> None:
    """Mark a failed delete whose waiter was cancelled as seen (asyncio warns about unseen ones)."""
    if not done.cancelled():
        done.exception()


def _tally(topology: Topology, stored: dict[tuple[str, bool], int]) -> dict[str, int]:
    """Rows per queue as RabbitMQ would hold them: due retries in their main queue, the rest in tiers."""
    held = {name: 0 for name in topology.main_queues}
    for main in topology.main_queues:
        held.update({spec.name: 0 for spec in topology.retry_specs(main)})
    for (name, due), count in sorted(stored.items()):
        owner = next((m for m in topology.main_queues if name == m or name.startswith(sql.tier_prefix(m))),
                     None)
        if owner is not None:
            target = owner if due or name == owner else name
            held[target] = held.get(target, 0) + count
    return held


def _cause(exc: DBAPIError) -> str:
    """The database's own words (SQLAlchemy's text adds the statement and a link)."""
    return " ".join(str(exc.orig).split()) or type(exc.orig).__name__
