"""`killreport copy`: an embedded copy filled by a real `sync-all --wait` moves into PostgreSQL row for
row, the distributed system then carries on without asking ESI again, and every refusal or failure
is one line that leaves the target as it was."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Table, delete, func, insert, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from killreport.changes import Change
from killreport.config import sqlalchemy_url
from killreport.domain.killmail import Rejected
from killreport.domain.models import AllianceHistoryRecord, CorporationHistoryRecord
from killreport.queue.broker import DEAD_LETTER_QUEUE, DeadLetter
from killreport.queue.rabbit import RabbitBroker
from killreport.queue.table import TableQueue
from killreport.runner_lock import RunnerLock
from killreport.sim.testing import RunningSim, running_sim
from killreport.store import tables as t
from killreport.store.copy import BATCH_ROWS, COPIED, NOT_COPIED, batches, snapshot
from killreport.store.facts import CacheFacts
from killreport.store.interface import Store
from killreport.store.postgres import postgres_store
from killreport.store.sqlite.engine import open_engine, path_of
from killreport.store.sqlite.store import sqlite_store
from tests import services
from tests.cluster import NO_BROKER, Done, cli_here, embedded_env, env_for, migrated, workers
from tests.kills import FACTION, NPC_CORPORATION, kill
from tests.truth import diff_against_truth

pytestmark = pytest.mark.timeout(300)
NO_ESI = "http://127.0.0.1:1"  # the refusals never reach ESI


@asynccontextmanager
async def _engine(url: str) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(url) if url.startswith("sqlite:///") else create_async_engine(sqlalchemy_url(url))
    try:
        yield engine
    finally:
        await engine.dispose()


async def _rows(engine: AsyncEngine, table: Table) -> list[dict[str, Any]]:
    """Every row of `table`, in key order, as SQLAlchemy reads it (the same Python values on both)."""
    async with engine.connect() as conn:
        result = await conn.execute(select(table).order_by(*table.primary_key.columns))
        return [dict(row) for row in result.mappings()]


async def _everything(url: str) -> dict[str, list[dict[str, Any]]]:
    async with _engine(url) as engine:
        return {table.name: await _rows(engine, table) for table in COPIED}


async def _table_names(pg_url: str) -> list[str]:
    async with _engine(pg_url) as engine, engine.connect() as conn:
        return sorted(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


def _one_line(done: Done) -> str:
    lines = done.err.strip().splitlines()
    assert len(lines) == 1, done.err
    return lines[0]


async def _fill(url: str, sim: RunningSim, **extra: str) -> None:
    done = await cli_here(embedded_env(url, sim.base_url, **extra), "sync-all", "--wait", timeout_s=240)
    assert done.code == 0, done.err[-3000:]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file a real `sync-all --wait` filled from a small universe (never changed by a test)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('copy') / 'killreport.db'}"

    async def fill() -> None:
        async with running_sim(alliances=5, latency_ms=1) as sim:
            await _fill(url, sim)

    asyncio.run(fill())
    return url


@pytest.fixture
def own_copy(filled: str, tmp_path: Path) -> str:
    """A copy of `filled` for a test that adds to it (sqlite3's backup: a consistent copy of a WAL file)."""
    target = tmp_path / "own.db"
    with sqlite3.connect(path_of(filled)) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return f"sqlite:///{target}"


def test_every_table_of_the_schema_is_copied_or_left_behind_with_a_reason() -> None:
    copied = {table.name for table in COPIED}
    assert copied.isdisjoint(NOT_COPIED)
    assert copied | set(NOT_COPIED) == set(t.metadata.tables)


async def _extras(url: str) -> None:
    """What a scheduler adds to the file beside a sync: recorded changes and a sweep's mark."""
    store = sqlite_store(open_engine(url), url)
    try:
        async with store.begin() as conn:
            await store.schedule.record_changes(conn, [
                Change("alliance", 1, "name", "Old", "New"), Change("corporation", 2, "ceo_id", None, 3),
                Change("character", 4, "corporation_id", 5, 6)])
            await store.schedule.mark_sweep_started(conn)
            await _kills(store, conn)
            await _histories(store, conn)
            await conn.execute(insert(t.entity_snapshots).values(
                kind="alliance", entity_id=1, day=dt.date(2026, 12, 1), member_count=40, corporation_count=2,
                taken_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)))
    finally:
        await store.engine.dispose()


async def _histories(store: Store, conn: AsyncConnection) -> None:
    """A character's and a corporation's history with their intervals (of ids the sync did not store)."""
    facts = CacheFacts(dt.datetime(2026, 12, 1, tzinfo=dt.UTC), None, '"h"', None)
    await store.jobs.store_history(conn, "character", 4, [
        CorporationHistoryRecord(record_id=2, start_date="2021-01-01T00:00:00Z", corporation_id=6),
        CorporationHistoryRecord(record_id=1, start_date="2020-01-01T00:00:00Z", corporation_id=5)], facts)
    await store.jobs.store_history(conn, "corporation", 6, [
        AllianceHistoryRecord(record_id=1, start_date="2020-06-01T00:00:00Z", alliance_id=1)], facts)


async def _kills(store: Store, conn: AsyncConnection) -> None:
    """A kill with its participants, a package kept aside, the feed's state, a hole, a back-fill day.

    NPCs only: the kill queues nobody, so the pending rows the test counts stay the sync's."""
    rejected = Rejected(sequence_id=9, killmail_id=8, hash="h8", reason="bad", body=b"{}")
    npcs = kill(7, {"corporation_id": NPC_CORPORATION}, [{"faction_id": FACTION}])
    await store.killmails.save(conn, [npcs], [rejected], 10)
    await store.killmails.record_hole(conn, 10, 11)
    await store.killmails.note_head(conn, 12)
    await store.killmails.backfill_day(conn, "20261201", listed=1, finished=True)


async def _check_rows_equal(source: str, target: str, *, complete: bool = True) -> None:
    """Every copied table holds the same rows on both sides; pending rows come unpublished, unclaimed.

    `complete`: every table had rows to compare."""
    before, after = await _everything(source), await _everything(target)
    before["sync_pending"] = [{**row, "published": False, "claimed_until": None}
                              for row in before["sync_pending"]]
    for table in COPIED:
        assert after[table.name] == before[table.name], table.name
    empty = [name for name, rows in before.items() if not rows]
    assert not complete or empty == [], f"untested: {empty}"
    async with _engine(target) as engine:
        assert await _rows(engine, t.scheduler_lease) == []


async def _next_change_id(pg_url: str) -> tuple[int, int]:
    """The largest copied change id and the id PostgreSQL gives the next recorded change."""
    async with _engine(pg_url) as engine:
        store = postgres_store(engine, pg_url)
        async with store.begin() as conn:
            copied = (await conn.execute(select(func.max(t.changes.c.id)))).scalar_one()
            await store.schedule.record_changes(conn, [Change("alliance", 1, "name", "New", "Newer")])
            new = (await conn.execute(select(func.max(t.changes.c.id)))).scalar_one()
    return int(copied), int(new)


async def _dead_letters(env: dict[str, str]) -> list[dict[str, Any]]:
    listed = await cli_here(env, "dlq", "list", "--json")
    assert listed.code == 0, listed.err
    return list(json.loads(listed.out)["dead_letters"])


async def test_copy_carries_the_embedded_copy_and_the_distributed_system_asks_esi_nothing_new(
        tmp_path: Path, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'killreport.db'}"
    async with running_sim(alliances=15, latency_ms=2, jitter_ms=1, deleted_characters=3) as sim:
        failing = min(int(i) for i in (await sim.control.truth())["characters"])
        await sim.control.override(f"/characters/{failing}", status=500)
        await _fill(source, sim, MAX_ATTEMPTS="2")  # `failing` is dead-lettered
        embedded = embedded_env(source, sim.base_url)
        queued = await cli_here(embedded, "queue", "character", str(failing))  # pending; no runner works it
        assert queued.code == 0 and "queued 1" in queued.out, queued.out + queued.err
        await _extras(source)

        # RABBITMQ_URL for this command alone: the dead letter goes to the new RabbitMQ's queue.
        done = await cli_here({**embedded, "RABBITMQ_URL": fresh_rabbit_url}, "copy", "--to", fresh_pg_url)
        assert done.code == 0, done.err
        shown = [line.split()[:3] for line in done.out.splitlines()]
        assert ["sync_pending", "1", "rows"] in shown and ["dead", "letters", "1"] in shown, done.out
        assert "killreport worker all" in done.out and "killreport scheduler" in done.out, done.out
        await _check_rows_equal(source, fresh_pg_url)
        truth = await sim.control.truth()
        async with _engine(source) as engine:
            embedded_problems = await diff_against_truth(engine, truth)
        async with _engine(fresh_pg_url) as engine:
            assert await diff_against_truth(engine, truth) == embedded_problems
        assert embedded_problems and all(str(failing) in p for p in embedded_problems), embedded_problems
        copied_max, next_id = await _next_change_id(fresh_pg_url)
        assert next_id == copied_max + 1

        await sim.control.clear_overrides()
        before = await sim.control.stats()
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, JANITOR_INTERVAL_S="0.5",
                      JANITOR_AGE_S="0.1")
        assert [(d["kind"], d["id"]) for d in await _dead_letters(env)] == [("character", failing)]
        async with workers(env, 1):
            again = await cli_here(env, "sync-all", "--wait", timeout_s=120)
            assert again.code == 0, again.err[-3000:]
        after = await sim.control.stats()
        async with _engine(fresh_pg_url) as engine:
            assert await diff_against_truth(engine, truth) == []
    # The carried pending job fetched the one character ESI had failed on; everything else was fresh.
    assert after["requests"] - before["requests"] == 1, (before["by_route"], after["by_route"])


async def test_the_source_is_read_as_one_snapshot_while_others_write(own_copy: str) -> None:
    reader, writer = open_engine(own_copy), open_engine(own_copy)
    try:
        async with reader.connect() as conn:
            async with snapshot(conn):
                first = await _batched(conn, t.alliances)
                async with writer.begin() as other:
                    await other.execute(delete(t.alliances))
                assert await _batched(conn, t.alliances) == first != []
            # Outside it, each read sees the latest commit: the snapshot is what kept the rows.
            assert await _batched(conn, t.alliances) == []
    finally:
        await reader.dispose()
        await writer.dispose()


async def _batched(conn: AsyncConnection, table: Table) -> list[dict[str, Any]]:
    return [row async for batch in batches(conn, table) for row in batch]


async def test_tables_larger_than_a_batch_go_whole_and_ids_continue_after_them(
        own_copy: str, fresh_pg_url: str) -> None:
    many = 2 * BATCH_ROWS + 7
    store = sqlite_store(open_engine(own_copy), own_copy)
    try:
        async with store.begin() as conn:
            await store.schedule.record_changes(conn, [
                Change("corporation", 98000000 + n, "member_count", n, n + 1) for n in range(many)])
    finally:
        await store.engine.dispose()
    done = await cli_here(embedded_env(own_copy, NO_ESI), "copy", "--to", fresh_pg_url)
    assert done.code == 0, done.err
    assert ["changes", f"{many:,}", "rows"] in [line.split()[:3] for line in done.out.splitlines()]
    await _check_rows_equal(own_copy, fresh_pg_url, complete=False)
    copied_max, next_id = await _next_change_id(fresh_pg_url)
    assert copied_max == many and next_id == copied_max + 1


async def test_a_target_holding_rows_is_refused_and_left_untouched(filled: str, fresh_pg_url: str) -> None:
    env = embedded_env(filled, NO_ESI)
    assert (await cli_here(env, "copy", "--to", fresh_pg_url)).code == 0
    held = await _everything(fresh_pg_url)
    refused = await cli_here(env, "copy", "--to", fresh_pg_url)
    assert refused.code == 1 and refused.out == ""
    line = _one_line(refused)
    assert line.startswith("killreport: error:") and "already holds rows (alliances," in line, line
    assert await _everything(fresh_pg_url) == held


async def test_a_target_holding_only_pending_work_is_refused_too(filled: str, fresh_pg_url: str) -> None:
    await migrated(fresh_pg_url)
    async with _engine(fresh_pg_url) as engine, engine.begin() as conn:
        await postgres_store(engine, fresh_pg_url).jobs.add(conn, "alliance", [99000001], skip_fresh=False)
    refused = await cli_here(embedded_env(filled, NO_ESI), "copy", "--to", fresh_pg_url)
    assert refused.code == 1 and "already holds rows (sync_pending)" in _one_line(refused)
    assert (await _everything(fresh_pg_url))["alliances"] == []


async def test_a_runner_holding_the_file_is_named_and_nothing_is_copied(
        filled: str, fresh_pg_url: str) -> None:
    with RunnerLock.acquire(path_of(filled), "killreport run"):
        refused = await cli_here(embedded_env(filled, NO_ESI), "copy", "--to", fresh_pg_url)
    assert refused.code == 1
    line = _one_line(refused)
    assert f"in use by `killreport run` (pid {os.getpid()}" in line and "stop it first" in line, line
    assert await _table_names(fresh_pg_url) == [], "refused before even migrating"


async def test_a_failure_mid_copy_leaves_the_target_without_rows(filled: str, fresh_pg_url: str) -> None:
    await migrated(fresh_pg_url)
    async with _engine(fresh_pg_url) as engine, engine.begin() as conn:
        # Tampered: alliances and corporations go in first, then the characters' insert fails.
        await conn.execute(text("ALTER TABLE characters ADD CONSTRAINT tampered CHECK (id < 0)"))
    failed = await cli_here(embedded_env(filled, NO_ESI), "copy", "--to", fresh_pg_url)
    assert failed.code == 1 and failed.out == ""
    line = _one_line(failed)
    assert "copying characters failed" in line and "tampered" in line and "target is as it was" in line, line
    assert all(rows == [] for rows in (await _everything(fresh_pg_url)).values())


async def test_dead_letters_without_a_reachable_rabbitmq_refuse_before_anything(
        own_copy: str, fresh_pg_url: str) -> None:
    await _with_a_dead_letter(own_copy)
    refused = await cli_here(embedded_env(own_copy, NO_ESI, RABBITMQ_URL=NO_BROKER),
                             "copy", "--to", fresh_pg_url)
    assert refused.code == 1
    line = _one_line(refused)
    assert "1 dead letter(s) must go to RabbitMQ" in line and "nothing was copied" in line, line
    assert await _table_names(fresh_pg_url) == []


async def _with_a_dead_letter(url: str) -> None:
    """A dead letter in the file, put there as the embedded worker would (TableQueue.publish_dead)."""
    queue = TableQueue(open_engine(url))
    try:
        await queue.publish_dead(DeadLetter(b'{"kind": "alliance", "id": 99000001}', "alliance", 99000001,
                                            "max attempts", 5, "HTTP 502", {}))
    finally:
        await queue.close()
        await queue.engine.dispose()


async def test_dead_letters_and_a_rabbitmq_whose_queues_differ_refuse_before_anything(
        own_copy: str, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    await _with_a_dead_letter(own_copy)
    await (await RabbitBroker.connect(fresh_rabbit_url, (5, 30))).close()  # other retry tiers
    env = embedded_env(own_copy, NO_ESI, RABBITMQ_URL=fresh_rabbit_url)
    refused = await cli_here(env, "copy", "--to", fresh_pg_url)
    assert refused.code == 1
    line = _one_line(refused)
    assert "must go to RabbitMQ, which cannot take them" in line and "different arguments" in line, line
    assert await _table_names(fresh_pg_url) == []


def _full_dead_letter_queue(rabbit_url: str) -> None:
    """A policy that makes RabbitMQ nack every publish to the (already over-full) dead-letter queue."""
    vhost = urlsplit(rabbit_url).path.lstrip("/")
    subprocess.run(["rabbitmqctl", "-q", "set_policy", "-p", vhost, "--apply-to", "queues", "kr-full",
                    f"^{DEAD_LETTER_QUEUE}$", json.dumps({"max-length": 1, "overflow": "reject-publish"})],
                   check=True)


async def test_dead_letters_rabbitmq_refuses_undo_the_whole_copy(
        own_copy: str, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    await _with_a_dead_letter(own_copy)
    # Quorum queues admit one message past max-length: two already there, so the next is refused.
    mq = await RabbitBroker.connect(fresh_rabbit_url, json.loads(env_for("", "", "")["RETRY_DELAYS_S"]))
    try:
        for n in (1, 2):
            await mq.publish_dead(DeadLetter(b"{}", None, None, "earlier", n, "", {}))
    finally:
        await mq.close()
    await asyncio.to_thread(_full_dead_letter_queue, fresh_rabbit_url)
    env = embedded_env(own_copy, NO_ESI, RABBITMQ_URL=fresh_rabbit_url)
    failed = await cli_here(env, "copy", "--to", fresh_pg_url, timeout_s=90)
    assert failed.code == 1 and failed.out == ""
    line = _one_line(failed)
    assert "publishing the dead letters to RabbitMQ failed" in line and "nothing was copied" in line, line
    assert all(rows == [] for rows in (await _everything(fresh_pg_url)).values())


async def test_a_target_that_cannot_be_migrated_is_one_line(filled: str, fresh_pg_url: str) -> None:
    async with _engine(fresh_pg_url) as engine, engine.begin() as conn:
        await conn.execute(text("CREATE TABLE alliances (somebody_elses integer)"))
    failed = await cli_here(embedded_env(filled, NO_ESI), "copy", "--to", fresh_pg_url)
    assert failed.code == 1
    line = _one_line(failed)
    assert "migrating postgresql://" in line and 'relation "alliances" already exists' in line, line
    async with _engine(fresh_pg_url) as engine, engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM alliances"))).scalar_one() == 0


async def test_passwords_in_either_url_are_never_shown(own_copy: str, fresh_pg_url: str,
                                                         fresh_rabbit_url: str) -> None:
    secret = "Pw-copy-" + os.urandom(6).hex()
    await _with_a_dead_letter(own_copy)
    with services.rabbit_user(fresh_rabbit_url, secret) as user:
        parts = urlsplit(fresh_rabbit_url)
        rabbit = parts._replace(netloc=f"{user}:{secret}@{parts.hostname}:{parts.port}").geturl()
        pg = urlsplit(fresh_pg_url)  # PostgreSQL trusts local connections: any password connects
        to = pg._replace(netloc=f"root:{secret}@{pg.hostname}:{pg.port}").geturl()
        env = embedded_env(own_copy, NO_ESI, RABBITMQ_URL=rabbit, LOG_LEVEL="DEBUG")
        done = await cli_here(env, "copy", "--to", to)
        assert done.code == 0, done.err
        again = await cli_here(env, "copy", "--to", to)  # refused: the target holds rows now
    assert again.code == 1 and "root:***@" in again.err
    assert "root:***@" in done.out and f"{DEAD_LETTER_QUEUE} at amqp://{user}:***@" in done.out
    assert secret not in done.out + done.err + again.out + again.err


async def test_unreachable_postgresql_is_one_line(filled: str) -> None:
    done = await cli_here(embedded_env(filled, NO_ESI), "copy", "--to", "postgresql://root:s3cret@127.0.0.1:1/kr")
    assert done.code == 1
    line = _one_line(done)
    assert "PostgreSQL unreachable at postgresql://root:***@127.0.0.1:1/kr" in line and "s3cret" not in line


@pytest.mark.parametrize(("args", "says"), [
    (("--to", "mysql://root@127.0.0.1/kr"), "--to must be a PostgreSQL URL"),
    (("--to", "sqlite:///elsewhere.db"), "--to must be a PostgreSQL URL"),
    (("--to", "postgresql://root:p@ss@127.0.0.1/kr"), "--to: cannot tell the password from the host"),
    (("--to", "postgresql://root@127.0.0.1:99999/kr"), "--to: cannot read the host and port"),
    (("--to", "postgresql://root@127.0.0.1/kr", "--from", "postgresql://x@y/z"), "--from must name a SQLite"),
    ((), "--to"),
])
async def test_bad_arguments_exit_2_with_one_line(filled: str, args: tuple[str, ...], says: str) -> None:
    done = await cli_here(embedded_env(filled, NO_ESI), "copy", *args)
    assert done.code == 2, done.err
    line = _one_line(done)
    assert line.startswith("killreport: ") and says in line, line
    assert "p@ss" not in line


async def test_a_postgresql_database_url_needs_from(filled: str, fresh_pg_url: str) -> None:
    env = env_for(fresh_pg_url, NO_BROKER, NO_ESI)
    done = await cli_here(env, "copy", "--to", fresh_pg_url)
    assert done.code == 2 and "--from sqlite:///" in _one_line(done)
    done = await cli_here(env, "copy", "--to", fresh_pg_url, "--from", filled)
    assert done.code == 0, done.err
    assert len((await _everything(fresh_pg_url))["alliances"]) == 5


async def test_a_missing_file_or_one_without_the_schema_is_refused(tmp_path: Path, fresh_pg_url: str) -> None:
    missing = tmp_path / "missing.db"
    done = await cli_here(embedded_env(f"sqlite:///{missing}", NO_ESI), "copy", "--to", fresh_pg_url)
    assert done.code == 1 and f"no SQLite file at {missing}" in _one_line(done)
    assert not missing.exists(), "copy never creates the file it was asked to read"
    blank = tmp_path / "blank.db"
    blank.touch()  # SQLite reads an empty file as an empty database
    done = await cli_here(embedded_env(f"sqlite:///{blank}", NO_ESI), "copy", "--to", fresh_pg_url)
    assert done.code == 1 and "has no killreport schema" in _one_line(done)
    assert await _table_names(fresh_pg_url) == []

