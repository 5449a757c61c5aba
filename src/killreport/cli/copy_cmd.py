"""`killreport copy --to postgresql://...`: carry an embedded copy (a SQLite file) over to PostgreSQL +
RabbitMQ, so a user who outgrows one process keeps what was fetched (and ESI is not asked again).

Decisions, made here:

- The target must hold no rows in any copied table; there is no --force. Two copies cannot be
  merged truthfully (which row wins, whose `changes` ids?) and a forced overwrite would delete what
  somebody stored; an empty database is one `CREATE DATABASE` away. The target is migrated first,
  as any killreport command on it would need: that adds the schema and touches no row.
- The file must not be in use by a runner (`run`, `worker`, `scheduler`, `sync-all --wait`): what it
  did after the snapshot would be lost to the copy, and both systems would spend ESI's one error
  limit from two budgets. `copy` holds the file's runner lock itself, so none starts meanwhile, and
  reads inside one read transaction (a snapshot, whatever `sync-all` writes meanwhile).
- Pending work goes as pending rows, unpublished and unclaimed: the distributed workers' janitor
  publishes them to RabbitMQ. Nothing queued is lost; the file's queue messages are not copied.
- Dead letters go into RabbitMQ's dead-letter queue (RABBITMQ_URL), published while the PostgreSQL
  transaction is still open: if RabbitMQ cannot be reached, nothing is copied (a copy that silently
  dropped them would hide the failures). With no dead letters RabbitMQ is not needed at all.
- One PostgreSQL transaction, BATCH_ROWS rows at a time: a failure leaves the target without rows.
  If only the commit fails after the dead letters were published, a second run publishes them again.
- Not copied: scheduler_lease (runtime state), the ESI budget's state (PostgreSQL's budget learns
  from the next answers), the file's queue messages (the pending rows stand for them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Final

from cyclopts import Parameter
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.cli.errors import FAILURE, UsageError
from killreport.config import POSTGRES_SCHEMES, SQLITE_SCHEME, ConfigError, Settings, check_url, mask_url
from killreport.queue.broker import DEAD_LETTER_QUEUE, BrokerError, JobQueue
from killreport.queue.dead import letter_from
from killreport.runner_lock import RunnerLock, RunnerLockHeld
from killreport.services import ServiceUnavailable, database
from killreport.store import copy as sql
from killreport.store import migrate
from killreport.store.interface import Store
from killreport.store.sqlite.engine import path_of
from killreport.wiring import broker, load_settings

_NOTHING_COPIED: Final = "nothing was copied; the target is as it was"
_PUBLISH_AT_ONCE: Final = 200  # dead letters awaiting their confirms together


class CopyRefused(RuntimeError):
    """The copy cannot or must not go ahead (or failed and was undone); the message is one line."""


async def copy(*, to: Annotated[str, Parameter(name="--to")],
               source: Annotated[str | None, Parameter(name="--from")] = None) -> int:
    """Copy the embedded SQLite copy (DATABASE_URL, or --from) into an empty PostgreSQL database."""
    settings = load_settings()
    source_url, target_url = _source_url(settings, source), _target_url(to)
    try:
        counts, letters = await _copy(settings, source_url, target_url)
    except CopyRefused as exc:
        print(f"killreport: error: {exc}", file=sys.stderr)
        return FAILURE
    _report(source_url, target_url, counts, letters, settings.rabbitmq_url)
    return 0


def _source_url(settings: Settings, given: str | None) -> str:
    url = settings.database_url if given is None else given
    if url.startswith(SQLITE_SCHEME) and len(url) > len(SQLITE_SCHEME):
        return url
    if given is None:
        raise UsageError("DATABASE_URL names PostgreSQL, not an embedded copy; say which file to copy "
                         "with --from sqlite:///path/to/killreport.db")
    raise UsageError("--from must name a SQLite file: sqlite:///path/to/killreport.db")


def _target_url(to: str) -> str:
    if not to.startswith(POSTGRES_SCHEMES):
        raise UsageError("--to must be a PostgreSQL URL: postgresql://user:password@host:5432/database")
    try:
        return check_url(to, POSTGRES_SCHEMES)
    except ConfigError as exc:
        raise UsageError(f"--to: {exc}") from None


async def _copy(settings: Settings, source_url: str, target_url: str) -> tuple[dict[str, int], int]:
    """Lock, open and check both sides, then copy; returns rows per table and dead letters moved."""
    path = path_of(source_url)
    if not path.is_file():
        raise CopyRefused(f"no SQLite file at {path}: nothing to copy")
    target = settings.model_copy(update={"database_url": target_url})
    with _runner_lock(path):
        async with database(settings.model_copy(update={"database_url": source_url}), wait=False,
                            need_schema=False) as src, \
                database(target, wait=False, need_schema=False) as dst:
            await _check_source(src, path)
            async with src.connect() as conn, sql.snapshot(conn):
                letters = await sql.stored_dead_letters(conn)
                async with _dead_letter_queue(target, len(letters)) as mq:
                    await _migrate(target_url)
                    counts = await _write(conn, dst, letters, mq)
    return counts, len(letters)


@contextlib.contextmanager
def _runner_lock(path: Path) -> Iterator[None]:
    """Hold the file's runner lock while copying, refusing (naming the holder) if a runner has it."""
    try:
        lock = RunnerLock.acquire(path, "killreport copy")
    except RunnerLockHeld as exc:
        who = exc.holder
        raise CopyRefused(
            f"{path} is in use by `{who.command}` (pid {who.pid} on {who.hostname}, since "
            f"{who.started_at}); stop it first, so the copy is the last state of the file") from None
    with lock:
        yield


async def _check_source(src: Store, path: Path) -> None:
    """Refuse a file without killreport's schema, or one older than this version's."""
    async with src.connect() as conn:
        version = await src.admin.schema_version(conn)
    if version is None:
        raise CopyRefused(f"{path} has no killreport schema: nothing to copy")
    head = sql.head_revision(src.url)
    if version != head:
        raise CopyRefused(f"{path} is at schema {version}, this killreport at {head}: run `killreport "
                          f"migrate` with DATABASE_URL={SQLITE_SCHEME}{path} first")


@contextlib.asynccontextmanager
async def _dead_letter_queue(target: Settings, letters: int) -> AsyncIterator[JobQueue | None]:
    """RabbitMQ (RABBITMQ_URL) when there are dead letters to carry over, else nothing."""
    if not letters:
        yield None
        return
    async with contextlib.AsyncExitStack() as stack:
        try:
            mq = await stack.enter_async_context(broker(target))
        except (ServiceUnavailable, BrokerError) as exc:  # unreachable, or its queues unusable
            raise CopyRefused(
                f"{letters} dead letter(s) must go to RabbitMQ, which cannot take them ({exc}); set "
                "RABBITMQ_URL to the new RabbitMQ, or replay or drop them first (`killreport dlq "
                f"replay` or `dlq purge` on the file); {_NOTHING_COPIED}") from None
        yield mq


async def _migrate(target_url: str) -> None:
    try:
        await asyncio.to_thread(migrate.upgrade, target_url)
    except DBAPIError as exc:
        raise CopyRefused(f"migrating {mask_url(target_url)} failed: {_cause(exc)}") from None


async def _write(conn: AsyncConnection, dst: Store, letters: Sequence[sql.StoredLetter],
                 mq: JobQueue | None) -> dict[str, int]:
    """Every table, then the dead letters, in one target transaction; rows per table."""
    counts: dict[str, int] = {}
    async with dst.begin() as out:
        holding = await sql.tables_holding_rows(out)
        if holding:
            raise CopyRefused(
                f"PostgreSQL at {mask_url(dst.url)} already holds rows ({', '.join(holding)}); copy "
                f"into an empty database so two copies never mix; {_NOTHING_COPIED}")
        for table in sql.COPIED:
            counts[table.name] = await _copy_table(conn, out, table)
        await sql.restart_identities_postgresql(out)
        if mq is not None:
            await _publish(mq, letters)
    return counts


async def _copy_table(conn: AsyncConnection, out: AsyncConnection, table: Table) -> int:
    """Copy one table batch by batch; a database error names the table and undoes everything."""
    copied = 0
    try:
        async for rows in sql.batches(conn, table):
            await sql.insert_rows(out, table, rows)
            copied += len(rows)
    except DBAPIError as exc:
        raise CopyRefused(f"copying {table.name} failed: {_cause(exc)}; {_NOTHING_COPIED}") from None
    return copied


async def _publish(mq: JobQueue, letters: Sequence[sql.StoredLetter]) -> None:
    """Publish the dead letters, a few hundred awaiting their confirms at once."""
    try:
        for start in range(0, len(letters), _PUBLISH_AT_ONCE):
            await asyncio.gather(*(mq.publish_dead(letter_from(s.body, json.loads(s.headers)))
                                   for s in letters[start:start + _PUBLISH_AT_ONCE]))
    except BrokerError as exc:
        raise CopyRefused(f"publishing the dead letters to RabbitMQ failed ({exc}); "
                          f"{_NOTHING_COPIED} (a second run may publish some of them again)") from None


def _cause(exc: DBAPIError) -> str:
    """The database's own first line (SQLAlchemy's text adds the statement and its parameters)."""
    text = str(exc.orig).strip() or type(exc.orig).__name__
    return " ".join(text.splitlines()[0].split())


def _report(source_url: str, target_url: str, counts: dict[str, int], letters: int,
            rabbit_url: str) -> None:
    """A line per table, the total, what stayed behind, and what to run next."""
    print(f"copied {source_url} into PostgreSQL at {mask_url(target_url)}:")
    notes = {"sync_pending": "unpublished: the workers' janitor queues them on RabbitMQ",
             "changes": "new changes get new ids"}
    for name, count in counts.items():
        note = f"  ({notes[name]})" if name in notes and count else ""
        print(f"  {name:<22} {count:>10,} rows{note}")
    where = f"  (into {DEAD_LETTER_QUEUE} at {mask_url(rabbit_url)})" if letters else ""
    print(f"  {'dead letters':<22} {letters:>10,}{where}")
    print(f"  {'total':<22} {sum(counts.values()) + letters:>10,}")
    left = [f"{name} ({why})" for name, why in sql.NOT_COPIED.items()]
    print(f"not copied: {', '.join(left)}, the file's queue messages (the pending rows stand for them), "
          "the ESI budget's state (PostgreSQL's budget learns from the next answers)")
    print(f"next: set DATABASE_URL={mask_url(target_url)} and RABBITMQ_URL to your RabbitMQ, then start "
          "`killreport worker all` (as many as you like) and `killreport scheduler`")
