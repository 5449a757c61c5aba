"""Search's index in step with every write, on both dialects.

PostgreSQL keeps its indexes itself; SQLite's FTS5 tables (store/sqlite/tables.py SEARCH) are kept
by the triggers of migration 0006. Each test writes by one path the software has (a worker's store,
a refresh that renames, a sweep's move, many rows in one insert, a delete, the migration over rows
stored before it) and checks what search answers; on SQLite it then runs FTS5's integrity-check
against the entity table (rank 1), which compares the index with the table's text row by row.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, insert
from sqlalchemy.exc import DatabaseError

from killreport.domain.schedule import Affiliated, Move
from killreport.ids import Kind
from killreport.store import migrate
from killreport.store import tables as t
from killreport.store.interface import Store
from killreport.store.sqlite.tables import SEARCH
from tests.store.conftest import open_store
from tests.store.search_volume import rows
from tests.store.test_jobs_contract import alliance, character, corporation, facts


async def in_step(store: Store) -> None:
    """On SQLite, each FTS5 table holds exactly its entity table's text (else DatabaseError)."""
    if store.dialect != "sqlite":
        return
    async with store.begin() as conn:
        for index in SEARCH.values():
            await conn.exec_driver_sql(f"INSERT INTO {index} ({index}, rank) VALUES ('integrity-check', 1)")


async def found(store: Store, text_: str) -> list[tuple[Kind, int, int]]:
    """Search's (kind, id, rank) for `text_`, first page."""
    async with store.connect() as conn:
        page = await store.lookup.search(conn, text_, offset=0, limit=50)
    return [(r["kind"], r["id"], r["rank"]) for r in page.items]


async def test_what_a_worker_stores_is_found_and_a_rename_moves_it(store: Store) -> None:
    async with store.begin() as conn:
        await store.jobs.store(conn, 99000001, alliance(name="Quorvex Union", ticker="QVX"), facts(3600))
        await store.jobs.store(conn, 98000001, corporation(name="Dralek Mining", ticker="DRLK"), facts(3600))
        await store.jobs.store(conn, 90000001, character(name="Isolde Quorvex"), facts(3600))
    await in_step(store)
    assert await found(store, "quorvex") == [("alliance", 99000001, 2), ("character", 90000001, 3)]
    assert await found(store, "rlk") == [("corporation", 98000001, 3)]
    async with store.begin() as conn:  # refreshes: a new name and ticker, then the same answer again
        await store.jobs.store(conn, 99000001, alliance(name="Zentharan Pact", ticker="ZNP"), facts(3600))
        await store.jobs.store(conn, 90000001, character(name="Isolde Quorvex"), facts(7200))
    await in_step(store)
    assert await found(store, "quorvex") == [("character", 90000001, 3)]
    assert await found(store, "QVX") == []
    assert await found(store, "zentharan pact") == [("alliance", 99000001, 1)]
    assert await found(store, "znp") == [("alliance", 99000001, 0)]


async def test_a_sweeps_move_leaves_the_names_found(store: Store) -> None:
    async with store.begin() as conn:
        await store.jobs.store(conn, 90000001, character(name="Mirelle Vantor", corporation_id=98000001,
                                                         alliance_id=None), facts(3600))
        moved = await store.schedule.apply_moves(conn, [
            Move(90000001, Affiliated(98000001, None), Affiliated(98000002, 99000002))])
    assert moved == {90000001}
    await in_step(store)
    assert await found(store, "vantor") == [("character", 90000001, 3)]


async def test_many_rows_in_one_insert_then_deleted(store: Store) -> None:
    many: dict[Kind, list[dict[str, Any]]] = {kind: rows(kind, 300, seed=7) for kind in t.ENTITY_TABLES}
    async with store.begin() as conn:
        for kind, table in t.ENTITY_TABLES.items():
            await conn.execute(insert(table), many[kind])
    await in_step(store)
    some = many["character"][123]
    assert ("character", some["id"], 1) in await found(store, some["name"].upper())
    async with store.begin() as conn:
        await conn.execute(delete(t.characters).where(t.characters.c.id == some["id"]))
        await conn.execute(delete(t.corporations))
    await in_step(store)
    assert ("character", some["id"], 1) not in await found(store, some["name"])
    corporation_hits = await found(store, many["corporation"][5]["name"])
    assert [hit for hit in corporation_hits if hit[0] == "corporation"] == []


async def test_the_check_sees_an_index_out_of_step(sqlite_template: Path, tmp_path: Path) -> None:
    # SQLite only: PostgreSQL's indexes have no triggers to lose.
    path = tmp_path / "killreport.db"
    shutil.copyfile(sqlite_template, path)
    async with open_store(f"sqlite:///{path}") as store:
        await _out_of_step(store)


async def _out_of_step(store: Store) -> None:
    async with store.begin() as conn:
        await store.jobs.store(conn, 90000001, character(name="Before"), facts(3600))
        await conn.exec_driver_sql("DROP TRIGGER characters_search_update")
        await store.jobs.store(conn, 90000001, character(name="After"), facts(3600))
    with pytest.raises(DatabaseError, match="malformed"):
        await in_step(store)


def test_the_migration_indexes_the_rows_already_stored_and_reverts(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    migrate.upgrade(f"sqlite:///{path}", "0005")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO characters (id, name, birthday, bloodline_id, race_id, corporation_id, "
                   "gender, achievement_score, fetched_at, history_wanted) "
                   "VALUES (90000001, 'Orrin Kethsar', 0, 1, 1, 1, 'male', 0, 0, 0)")
    migrate.upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO characters_search (characters_search, rank) VALUES ('integrity-check', 1)")
        hits = db.execute("SELECT rowid FROM characters_search WHERE characters_search MATCH '\"ETHSA\"'")
        assert hits.fetchall() == [(90000001,)]
    # Back to 0005: the triggers go with the FTS5 tables, so a write still works; and up again.
    command.downgrade(migrate.alembic_config(f"sqlite:///{path}"), "0005")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE characters SET name = 'Orrin Vale' WHERE id = 90000001")
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE '%search%'").fetchone() == (0,)
    migrate.upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        hits = db.execute("SELECT rowid FROM characters_search WHERE characters_search MATCH '\"N VAL\"'")
        assert hits.fetchall() == [(90000001,)]



async def test_quotes_and_letters_beyond_ascii_are_found_in_any_part(store: Store) -> None:
    async with store.begin() as conn:
        await store.jobs.store(conn, 90000001, character(name='Ærø "Quote" Ölsen'), facts(3600))
    await in_step(store)
    assert await found(store, '"quote"') == [("character", 90000001, 3)]
    assert await found(store, 'ø "Q') == [("character", 90000001, 3)]
    assert await found(store, "Ærø") == [("character", 90000001, 2)]
    assert await found(store, "Öls") == [("character", 90000001, 3)]
    assert await found(store, "Æ") == [("character", 90000001, 2)]
    assert await found(store, "'quote'") == []


def test_a_later_migration_down_and_up_keeps_the_index_in_step(tmp_path: Path) -> None:
    # Migrations after search's must not copy an entity table (a copy drops its triggers).
    path = tmp_path / "later.db"
    migrate.upgrade(f"sqlite:///{path}")
    command.downgrade(migrate.alembic_config(f"sqlite:///{path}"), "0006")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO characters (id, name, birthday, bloodline_id, race_id, corporation_id, "
                   "gender, achievement_score, fetched_at, history_wanted) "
                   "VALUES (90000002, 'Kessa Morrow', 0, 1, 1, 1, 'female', 0, 0, 0)")
        hits = db.execute("SELECT rowid FROM characters_search WHERE characters_search MATCH '\"SSA M\"'")
        assert hits.fetchall() == [(90000002,)]
    migrate.upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO characters_search (characters_search, rank) VALUES ('integrity-check', 1)")
