"""One job, start to finish: claim, fetch what is stale, store and queue what it references, ack.

Only expired resources are requested, with the stored ETag: a 304 moves the copy's Expires and
checked time and nothing else; a 200 replaces the copy and appends what changed to `changes`, in
the same statement. Every answer is stored the moment it arrives (sync/fetch.py says why). The ack
comes last, after the commit and after the children's messages are confirmed, so a crash anywhere
means redelivery, never loss. ESI failures are sorted here:

- permanent (404): recorded, or tombstoned for deleted characters; never retried;
- transient (5xx, timeouts, malformed bodies): back through a retry tier with attempt + 1, and
  dead-lettered with the reason once `max_attempts` is reached. An unusable answer that came with
  an Expires is not asked again before it: the job keeps its claim until then, so its retry asks
  only after it, and a stored copy keeps it as its `expires_at`, so nothing else asks before either;
- anything else (database or broker trouble) propagates: the worker returns the message and backs off.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import structlog
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.changes import Change
from killreport.domain.cache import Fetched, NotModified
from killreport.domain.models import Alliance, Entity
from killreport.esi.client import NotSent, sending_until
from killreport.esi.errors import Deleted, PermanentError, TransientError
from killreport.ids import Kind
from killreport.queue.broker import QUEUE_NAMES, DeadLetter, Delivery, JobQueue
from killreport.queue.messages import Job, MessageError, decode, encode
from killreport.store.entities import Stored
from killreport.store.facts import CacheFacts, Revalidated
from killreport.store.interface import JobQueries, Store
from killreport.store.tables import HISTORY_PREFIX, MEMBERS_PREFIX
from killreport.sync.fetch import (
    Answer,
    Defer,
    EsiSource,
    HistoryRecords,
    Keep,
    ask_entity,
    ask_history,
    fetch_alliance,
    kept,
    now,
)
from killreport.sync.plan import (
    Children,
    Request,
    children_of,
    deletion_changes,
    detail_changes,
    hold_until,
    member_changes,
    requests_for,
)

log = structlog.get_logger("killreport.sync")
R = TypeVar("R")
# How long an answer in hand waits for the database at least (the claim's TTL, if longer).
_STORE_PATIENCE_S: Final = 30.0
# Errors of the statement itself, which trying again cannot mend.
_STATEMENT_ERRORS: Final = (DataError, IntegrityError, ProgrammingError)

_Step = Callable[[AsyncConnection], Awaitable[None]]
# Told how each job ended (kind, outcome): stored, not_modified, fresh, deleted, failed, retried,
# dead_lettered, busy (claimed elsewhere), not_sent (the claim ran out waiting for the budget).
JobObserver = Callable[[str, str], None]


class JobProcessor:
    """Handles deliveries; everything it needs is passed in."""

    def __init__(self, store: Store, broker: JobQueue, esi: EsiSource, *, max_attempts: int,
                 claim_ttl_s: float, observe: JobObserver | None = None, history: bool = True) -> None:
        self._store = store
        self._history = history  # HISTORY: whether wanted histories are fetched at all
        self._jobs = store.jobs
        self._observe = observe
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
        claimed = time.monotonic()
        # Each statement of the hot path commits on its own: every step is safe to repeat after a
        # crash (the message is acked last), so BEGIN/COMMIT round trips would buy nothing.
        async with self._store.autocommit() as conn:
            stored = await self._jobs.claim_and_read(conn, job.kind, job.id, self._claim_ttl_s)
        if stored is None:
            # Another worker holds it (a duplicate message): look again after the first retry delay.
            await self._broker.publish_retry(QUEUE_NAMES[job.kind], body, 1)
            self._note(job.kind, "busy")
            return
        try:
            # Send only in the first half of the claim: the rest is for the answer and its storing.
            with sending_until(claimed + self._claim_ttl_s / 2):
                outcome = await self._sync(job, stored)
        except NotSent:
            await self._not_sent(job, body, claimed)
            outcome = "not_sent"
        except Deleted as exc:
            reason, noted = str(exc), deletion_changes(job.id, stored)
            await self._in_tx(lambda c: self._tombstone(c, job, reason, noted))
            outcome = "deleted"
        except PermanentError as exc:
            status, reason = exc.status, str(exc)
            await self._in_tx(lambda c: self._fail(c, job, status, reason, permanent=True))
            outcome = "failed"
        except TransientError as exc:
            await self._retry_or_dead(job, exc, hold_until(exc.expires_at, now()))
            return  # noted there: retried or dead-lettered
        self._note(job.kind, outcome)

    async def _not_sent(self, job: Job, body: bytes, claimed: float) -> None:
        """Half the claim passed while the job waited for the budget: claim back, job back in line.

        The wait ends at that deadline (esi/client.py), so the claim is still this job's and is
        given back, and the job goes to the end of its queue at once, without using an attempt: the
        next delivery claims it afresh. Before, the wait ended at the next grant (a spent error
        window's end), the lease went unused, and the job sat 5 s in the first retry tier, then 5 s
        more each time it came back to its own claim, still held ("busy"):
        `bench/embedded.py --alliances 300 --deleted-characters 200` stood idle 4-10 s at each window
        start. Should the loop have stalled past a quarter of the TTL, the claim is left alone:
        another job may hold it by the time the release runs, and it frees itself anyway.
        """
        if time.monotonic() < claimed + self._claim_ttl_s * 3 / 4:
            await self._in_tx(lambda c: self._jobs.release(c, job.kind, job.id, job.attempt))
        await self._broker.publish(QUEUE_NAMES[job.kind], [body])

    def _note(self, kind: str, outcome: str) -> None:
        if self._observe is not None:
            self._observe(kind, outcome)

    async def _sync(self, job: Job, stored: Stored) -> str:
        """Fetch and store what is stale; returns the outcome (stored, not_modified or fresh)."""
        wanted = requests_for(job.kind, stored, history=self._history)
        if job.kind == "alliance":
            to_publish, outcome = await self._alliance(job.id, stored, wanted)
        else:
            to_publish, outcome = await self._entity(job.kind, job.id, stored, wanted)
        for kind, ids in to_publish.items():
            await self._broker.publish(QUEUE_NAMES[kind], [encode(Job(kind=kind, id=i)) for i in ids])
        return outcome

    async def _entity(self, kind: Kind, entity_id: int, stored: Stored,
                      wanted: tuple[Request, ...]) -> tuple[dict[Kind, list[int]], str]:
        """A corporation or character: at most one request, then one statement (the hot path).

        Its own answer first: a history also due waits for the next job the scheduler queues (its
        refresh may show a move, which the history should then include)."""
        if wanted and wanted[0].resource == "history":
            return await self._history_of(kind, entity_id, stored, wanted[0])
        if not wanted:
            async with self._store.autocommit() as conn:
                return await _finish(self._jobs, conn, kind, entity_id, children_of(stored.references),
                                     requested=False), "fresh"
        to_publish: dict[Kind, list[int]] = {}
        outcome = ["stored"]

        async def save(answer: Answer[Entity], arrived: dt.datetime) -> None:
            outcome[0] = "not_modified" if isinstance(answer, NotModified) else "stored"
            to_publish.update(await self._keep(lambda conn, again: _store_entity(
                self._jobs, conn, kind, entity_id, stored, answer, arrived, again=again)))

        keep = Keep(save, self._deferral(kind, entity_id, has_row=stored.row is not None))
        await kept(ask_entity(self._esi, kind, entity_id, wanted[0].etag), keep)
        return to_publish, outcome[0]

    async def _history_of(self, kind: Kind, entity_id: int, stored: Stored,
                          request: Request) -> tuple[dict[Kind, list[int]], str]:
        """A character's or corporation's history: one request, stored with its intervals in one
        transaction; then the entity is finished as a fresh one is."""
        outcome = ["stored"]

        async def save(answer: Answer[HistoryRecords], arrived: dt.datetime) -> None:
            outcome[0] = "not_modified" if isinstance(answer, NotModified) else "stored"
            jobs = self._jobs
            await self._keep(lambda conn, _: _store_history(jobs, conn, kind, entity_id, answer, arrived),
                             transaction=True)

        keep = Keep(save, self._deferral(kind, entity_id, has_row=True, prefix=HISTORY_PREFIX))
        await kept(ask_history(self._esi, kind, entity_id, request.etag), keep)
        async with self._store.autocommit() as conn:
            # The children come from the stored row, not from this job: send every one still pending.
            return await _finish(self._jobs, conn, kind, entity_id, children_of(stored.references),
                                 requested=True, resend=True), outcome[0]

    async def _alliance(self, alliance_id: int, stored: Stored,
                        wanted: tuple[Request, ...]) -> tuple[dict[Kind, list[int]], str]:
        """An alliance: each stale resource requested and stored as it arrives, then the cascade."""
        async def save_detail(answer: Answer[Alliance], arrived: dt.datetime) -> None:
            jobs = self._jobs
            await self._keep(lambda conn, _: _store_alliance(jobs, conn, alliance_id, stored, answer,
                                                             arrived))

        async def save_members(answer: Answer[list[int]], arrived: dt.datetime) -> None:
            jobs = self._jobs
            await self._keep(lambda conn, _: _store_members(jobs, conn, alliance_id, stored, answer, arrived))

        detail_to = Keep(save_detail, self._deferral("alliance", alliance_id, has_row=stored.row is not None))
        # A member list is only ever asked once the alliance's row exists (sync/fetch.py).
        members_to = Keep(save_members, self._deferral("alliance", alliance_id, has_row=True,
                                                       prefix=MEMBERS_PREFIX))
        got = await fetch_alliance(self._esi, alliance_id, wanted, first_sighting=stored.row is None,
                                   detail_to=detail_to, members_to=members_to)
        # What was just fetched wins; what is still fresh, or answered 304, is the stored copy.
        entity = got.detail.data if isinstance(got.detail, Fetched) else stored.references
        members = got.members.data if isinstance(got.members, Fetched) else (stored.members or ())
        fetched = isinstance(got.detail, Fetched) or isinstance(got.members, Fetched)
        outcome = "stored" if fetched else "not_modified" if got.requested else "fresh"
        async with self._store.autocommit() as conn:
            return await _finish(self._jobs, conn, "alliance", alliance_id, children_of(entity, members),
                                 requested=got.requested), outcome

    def _deferral(self, kind: Kind, entity_id: int, *, has_row: bool, prefix: str = "") -> Defer:
        """How to keep an unusable answer's Expires in the stored row, where there is one (the job
        also keeps its claim until then: `hold_until`)."""
        async def defer(until: dt.datetime) -> None:
            if has_row:
                await self._keep(lambda conn, _: self._jobs.defer(conn, kind, entity_id, until, prefix))
        return defer

    async def _keep(self, store: Callable[[AsyncConnection, bool], Awaitable[R]], *,
                    transaction: bool = False) -> R:
        """Store an answer in hand; while the database is unreachable, keep it and try again.

        Giving up would send the job back to ask ESI again before the Expires it just received.
        `store` learns whether this is a repeat (`again`): an earlier try may have committed unseen.
        The message stays unacked meanwhile, so nobody else gets the job unless this worker dies.
        `transaction`: `store` runs several statements that must commit together (a history's).
        """
        deadline = time.monotonic() + max(self._claim_ttl_s, _STORE_PATIENCE_S)
        again, delay = False, 0.2
        while True:
            try:
                async with self._store.begin() if transaction else self._store.autocommit() as conn:
                    return await store(conn, again)
            except (DBAPIError, OSError) as exc:
                task = asyncio.current_task()
                stopping = task is not None and task.cancelling() > 0  # a draining worker: no waiting
                if isinstance(exc, _STATEMENT_ERRORS) or stopping or time.monotonic() + delay > deadline:
                    raise
                log.warning("storing an answer failed; keeping it and trying again",
                            error=f"{type(exc).__name__}: {str(exc)[:200]}", retry_in_s=delay)
                await asyncio.sleep(delay)
                again, delay = True, min(2 * delay, 2.0)

    async def _retry_or_dead(self, job: Job, exc: TransientError, hold: dt.datetime | None) -> None:
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
        self._note(job.kind, "retried")
        log.info("retrying", kind=job.kind, id=job.id, attempt=attempts, error=str(exc))
        # The claim is held until the answer's Expires before the retry is published: if the broker
        # fails the publish, the message comes back after the claim's TTL, and the hold is then all
        # that keeps a first sighting (no row to carry the Expires) from being asked again early.
        await self._in_tx(lambda c: self._jobs.release(c, job.kind, job.id, attempts, hold))
        await self._broker.publish_retry(
            QUEUE_NAMES[job.kind], encode(Job(kind=job.kind, id=job.id, attempt=attempts)), attempts
        )

    async def _dead(
        self, body: bytes, job: Job | None, *, reason: str, attempts: int, last_error: str
    ) -> None:
        self._note(job.kind if job else "unknown", "dead_lettered")
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
        async with self._store.begin() as conn:
            await step(conn)

    async def _tombstone(self, conn: AsyncConnection, job: Job, reason: str, noted: list[Change]) -> None:
        await self._jobs.tombstone(conn, job.id, reason, noted)
        await self._jobs.finish(conn, job.kind, job.id)

    async def _fail(
        self,
        conn: AsyncConnection,
        job: Job,
        status: int | None,
        reason: str,
        *,
        permanent: bool,
        attempts: int | None = None,
    ) -> None:
        await self._jobs.record_failure(
            conn,
            job.kind,
            job.id,
            status=status,
            reason=reason,
            attempts=job.attempt + 1 if attempts is None else attempts,
            permanent=permanent,
        )
        await self._jobs.finish(conn, job.kind, job.id)


async def _store_entity(
    jobs: JobQueries, conn: AsyncConnection, kind: Kind, entity_id: int, stored: Stored,
    answer: Answer[Entity], arrived: dt.datetime, *, again: bool,
) -> dict[Kind, list[int]]:
    """Store a corporation's or character's answer, queue its children, finish it: one statement.

    Returns the children to publish after the commit: those this statement added, or, when it runs
    `again` (an earlier try may have added them unseen), every child still pending.
    """
    if isinstance(answer, NotModified):
        children = children_of(stored.references).by_kind()
        first = children[0] if children else None
        added = await jobs.revalidate_and_finish(conn, kind, entity_id, Revalidated.of(answer, arrived),
                                                     first)
    else:
        children = children_of(answer.data).by_kind()
        first = children[0] if children else None
        noted = detail_changes(kind, entity_id, stored, answer.data)
        added = await jobs.store_and_finish(conn, entity_id, answer.data, CacheFacts.of(answer, arrived),
                                                first, noted)
    if again and first:
        added = await jobs.among(conn, *first)
    return {first[0]: added} if first and added else {}


async def _store_alliance(jobs: JobQueries, conn: AsyncConnection, alliance_id: int, stored: Stored,
                          answer: Answer[Alliance], arrived: dt.datetime) -> None:
    """Store an alliance's own answer (a 304: its Expires and checked time) with what changed."""
    if isinstance(answer, NotModified):
        await jobs.revalidate(conn, "alliance", alliance_id, Revalidated.of(answer, arrived))
        return
    noted = detail_changes("alliance", alliance_id, stored, answer.data)
    await jobs.store(conn, alliance_id, answer.data, CacheFacts.of(answer, arrived), noted)


async def _store_members(jobs: JobQueries, conn: AsyncConnection, alliance_id: int, stored: Stored,
                         answer: Answer[list[int]], arrived: dt.datetime) -> None:
    """Store an alliance's member list (a 304: its Expires and checked time) with what changed."""
    if isinstance(answer, NotModified):
        await jobs.revalidate(conn, "alliance", alliance_id, Revalidated.of(answer, arrived),
                                  MEMBERS_PREFIX)
        return
    noted = member_changes(alliance_id, stored, answer.data)
    await jobs.replace_members(conn, alliance_id, answer.data, CacheFacts.of(answer, arrived), noted)


async def _store_history(jobs: JobQueries, conn: AsyncConnection, kind: Kind, entity_id: int,
                         answer: Answer[HistoryRecords], arrived: dt.datetime) -> None:
    """Store a history with its intervals (a 304: its Expires and checked time), no longer wanted."""
    if isinstance(answer, NotModified):
        await jobs.revalidate_history(conn, kind, entity_id, Revalidated.of(answer, arrived))
        return
    await jobs.store_history(conn, kind, entity_id, answer.data, CacheFacts.of(answer, arrived))


async def _finish(jobs: JobQueries, conn: AsyncConnection, kind: Kind, entity_id: int, children: Children, *,
                  requested: bool, resend: bool | None = None) -> dict[Kind, list[int]]:
    """Add what the entity references to the pending set, finish the entity.

    Returns the children to publish after the commit: those this job added, and, when `resend`
    (by default: nothing was requested), every child still pending, so none is left without a
    message. A redelivery after a crash between commit and publish looks exactly like a job whose
    entity is fresh, or one that only fetched a history: its children were added by the first try,
    whose messages may never have gone. Duplicates are harmless; loss is not.
    Each statement commits on its own: all of them are safe to repeat.
    """
    resend = not requested if resend is None else resend
    to_publish: dict[Kind, list[int]] = {}
    for child_kind, ids in children.by_kind():
        added = await jobs.add(conn, child_kind, ids, skip_fresh=True, published=True)
        chosen = await jobs.among(conn, child_kind, ids) if resend else added
        if chosen:
            to_publish[child_kind] = chosen
    await jobs.finish(conn, kind, entity_id, stored=requested)
    return to_publish
