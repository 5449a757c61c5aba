"""One job, start to finish: claim, fetch what is stale, store and queue what it references, ack.

The ack comes last, after the commit and after the children's messages are confirmed, so a crash
anywhere means redelivery, never loss. ESI failures are sorted here:

- permanent (404): recorded, or tombstoned for deleted characters; never retried;
- transient (5xx, timeouts, malformed bodies): back through a retry tier with attempt + 1, and
  dead-lettered with the reason once `max_attempts` is reached;
- anything else (database or broker trouble) propagates: the worker returns the message and backs off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from killreport.esi.errors import Deleted, PermanentError, TransientError
from killreport.ids import Kind
from killreport.queue.broker import QUEUE_NAMES, DeadLetter, Delivery, JobQueue
from killreport.queue.messages import Job, MessageError, decode, encode
from killreport.store import entities, pending
from killreport.sync.fetch import EsiSource, Fresh, fetch_stale
from killreport.sync.plan import Children, children_of

log = structlog.get_logger("killreport.sync")

_Step = Callable[[AsyncConnection], Awaitable[None]]


class JobProcessor:
    """Handles deliveries; everything it needs is passed in."""

    def __init__(self, engine: AsyncEngine, broker: JobQueue, esi: EsiSource, *, max_attempts: int,
                 claim_ttl_s: float) -> None:
        self._engine = engine
        # Each statement of the hot path commits on its own: every step is safe to repeat after a
        # crash (the message is acked last), so BEGIN/COMMIT round trips would buy nothing.
        self._auto = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._broker = broker
        self._esi = esi
        self._max_attempts = max_attempts
        self._claim_ttl_s = claim_ttl_s

    async def handle(self, delivery: Delivery) -> None:
        """Process one delivery and ack it; raises (without acking) only on infrastructure trouble."""
        try:
            job = decode(delivery.body)
        except MessageError as exc:
            await self._dead(
                delivery.body, None, reason=f"malformed message: {exc}", attempts=0, last_error=str(exc)
            )
        else:
            await self._run(job, delivery.body)
        await delivery.ack()

    async def _run(self, job: Job, body: bytes) -> None:
        async with self._auto.connect() as conn:
            stored = await entities.claim_and_read(conn, job.kind, job.id, self._claim_ttl_s)
        if stored is None:
            # Another worker holds it (a duplicate message): look again after the first retry delay.
            await self._broker.publish_retry(QUEUE_NAMES[job.kind], body, 1)
            return
        try:
            await self._sync(job, stored)
        except Deleted as exc:
            reason = str(exc)
            await self._in_tx(lambda c: self._tombstone(c, job, reason))
        except PermanentError as exc:
            status, reason = exc.status, str(exc)
            await self._in_tx(lambda c: self._fail(c, job, status, reason, permanent=True))
        except TransientError as exc:
            await self._retry_or_dead(job, exc)

    async def _sync(self, job: Job, stored: entities.Stored) -> None:
        fresh = await fetch_stale(self._esi, job.kind, job.id, stored)
        # An alliance's member list is replaced by delete + insert, which must not be seen half done.
        engine = self._engine if job.kind == "alliance" else self._auto
        async with engine.begin() as conn:
            to_publish = await _save(conn, job.kind, job.id, stored, fresh)
        for kind, ids in to_publish.items():
            await self._broker.publish(QUEUE_NAMES[kind], [encode(Job(kind=kind, id=i)) for i in ids])

    async def _retry_or_dead(self, job: Job, exc: TransientError) -> None:
        attempts = job.attempt + 1
        if attempts >= self._max_attempts:
            await self._dead(
                encode(job),
                job,
                reason="transient failures exhausted",
                attempts=attempts,
                last_error=str(exc),
            )
            return
        log.info("retrying", kind=job.kind, id=job.id, attempt=attempts, error=str(exc))
        await self._broker.publish_retry(
            QUEUE_NAMES[job.kind], encode(Job(kind=job.kind, id=job.id, attempt=attempts)), attempts
        )
        await self._in_tx(lambda c: pending.release(c, job.kind, job.id, attempts))

    async def _dead(
        self, body: bytes, job: Job | None, *, reason: str, attempts: int, last_error: str
    ) -> None:
        log.warning(
            "dead-lettered",
            reason=reason,
            last_error=last_error,
            kind=job.kind if job else None,
            id=job.id if job else None,
        )
        await self._broker.publish_dead(
            DeadLetter(
                body=body,
                kind=job.kind if job else None,
                entity_id=job.id if job else None,
                reason=reason,
                attempts=attempts,
                last_error=last_error,
                headers={},
            )
        )
        if job is not None:
            await self._in_tx(
                lambda c: self._fail(
                    c, job, None, f"{reason}: {last_error}", permanent=False, attempts=attempts
                )
            )

    async def _in_tx(self, step: _Step) -> None:
        async with self._engine.begin() as conn:
            await step(conn)

    @staticmethod
    async def _tombstone(conn: AsyncConnection, job: Job, reason: str) -> None:
        await entities.tombstone(conn, job.id, reason)
        await pending.finish(conn, job.kind, job.id)

    @staticmethod
    async def _fail(
        conn: AsyncConnection,
        job: Job,
        status: int | None,
        reason: str,
        *,
        permanent: bool,
        attempts: int | None = None,
    ) -> None:
        await entities.record_failure(
            conn,
            job.kind,
            job.id,
            status=status,
            reason=reason,
            attempts=job.attempt + 1 if attempts is None else attempts,
            permanent=permanent,
        )
        await pending.finish(conn, job.kind, job.id)


async def _save(
    conn: AsyncConnection, kind: Kind, entity_id: int, stored: entities.Stored, fresh: Fresh
) -> dict[Kind, list[int]]:
    """Store what was fetched, add what it references to the pending set, finish the entity.

    Returns the children to publish after the commit: those this job added, and, when nothing was
    fetched (a redelivery after a crash between commit and publish looks exactly like that), every
    child still pending, so none is left without a message. Duplicates are harmless; loss is not.
    """
    children = _children(fresh, stored).by_kind()
    if fresh.detail is not None:
        facts = fresh.facts(fresh.detail)
        if fresh.members is None and len(children) <= 1:
            first = children[0] if children else None
            added = await entities.store_and_finish(conn, entity_id, fresh.detail.data, facts, first)
            return {first[0]: added} if first and added else {}
        await entities.upsert(conn, entity_id, fresh.detail.data, facts)
    if fresh.members is not None:
        await entities.replace_members(conn, entity_id, fresh.members.data, fresh.facts(fresh.members))
    to_publish: dict[Kind, list[int]] = {}
    for child_kind, ids in children:
        added = await pending.add(conn, child_kind, ids, skip_fresh=True, published=True)
        chosen = added if fresh.requested else await pending.among(conn, child_kind, ids)
        if chosen:
            to_publish[child_kind] = chosen
    await pending.finish(conn, kind, entity_id, stored=fresh.requested)
    return to_publish


def _children(fresh: Fresh, stored: entities.Stored) -> Children:
    # What was just fetched wins; what is still fresh is known from the stored copy.
    entity = fresh.detail.data if fresh.detail is not None else stored.references
    members = fresh.members.data if fresh.members is not None else (stored.members or ())
    return children_of(entity, members)
