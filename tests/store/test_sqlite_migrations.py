"""The embedded store's migrations: exactly store/tables.py plus store/sqlite/tables.py, upgraded safely.

Like tests/integration/test_shapes_schema.py for PostgreSQL: Alembic compares the migrated file with
the metadata. Also: a new file (and its folder) is made, a second upgrade changes nothing, a failed
one leaves nothing, concurrent ones run once, and the files ship in the package.
"""

from __future__ import annotations

import asyncio
import fnmatch
import sqlite3
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import CreateIndex

from killreport.store import migrate
from killreport.store import tables as t
from killreport.store.sqlite import tables as embedded

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "killreport"


def _both() -> MetaData:
    """Both schemas as they should be on SQLite: without PostgreSQL's trigram indexes (by design, see
    the migration's docstring; Alembic cannot reflect expression indexes on SQLite anyway)."""
    both = MetaData()
    for source in (t.metadata, embedded.metadata):
        for table in source.tables.values():
            copy = table.to_metadata(both)
            copy.indexes = {i for i in copy.indexes if not i.name or not i.name.endswith("_trgm")}
    return both


def _identity_is_the_rowid(diff: Any) -> bool:
    # changes.id's Identity() renders as nothing on SQLite: an INTEGER PRIMARY KEY is the rowid,
    # numbered in insert order. Alembic reads the missing identity as a changed default.
    return isinstance(diff, list) and len(diff) == 1 and diff[0][0] == "modify_default" and diff[0][2:4] == (
        "changes", "id")


def _not_search(name: str | None, type_: str, parent_names: Mapping[str, Any]) -> bool:
    # Search's FTS5 tables and the tables FTS5 keeps for each: virtual, made by migration 0006 and
    # described by store/sqlite/tables.py SEARCH, not by the metadata (test_search_index.py checks them).
    return not (type_ == "table" and name is not None and name.split("_search")[0] in embedded.SEARCH
                and "_search" in name)


def _differences(path: Path) -> list[Any]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "compare_server_default": True, "include_name": _not_search}
            diffs = compare_metadata(MigrationContext.configure(conn, opts=opts), _both())
            return [d for d in diffs if not _identity_is_the_rowid(d)]
    finally:
        engine.dispose()


def _schema(path: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(path) as db:
        return sorted(db.execute("SELECT type, name, sql FROM sqlite_master").fetchall())


def _version(path: Path) -> str | None:
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "alembic_version" not in tables:
            return None
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        return None if row is None else str(row[0])


def _head(url: str) -> str | None:
    return ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()


def test_a_migrated_file_has_exactly_the_tables_of_both_metadata(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    migrate.upgrade(f"sqlite:///{path}")
    assert _differences(path) == []
    names = {name for kind, name, _ in _schema(path) if kind == "index"}
    assert not any(name.endswith("_trgm") for name in names), "no trigram indexes on SQLite"
    # Alembic cannot reflect SQLite's expression indexes: search's b-trees are compared as written.
    made = {name: sql for kind, name, sql in _schema(path) if kind == "index" and name.endswith("_lower")}
    wanted = {index.name: str(CreateIndex(index).compile(dialect=sqlite.dialect())) for table in
              t.metadata.tables.values() for index in table.indexes if str(index.name).endswith("_lower")}
    assert len(wanted) == 5 and made == wanted
    tables = {name for kind, name, _ in _schema(path) if kind == "table"}
    assert set(embedded.SEARCH.values()) <= tables


def test_upgrade_makes_the_file_and_its_folder_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "k.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    assert _version(path) == _head(url) is not None
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_second_upgrade_changes_nothing_and_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    migrate.upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO scheduler_marks (name, at) VALUES ('x', 1.5)")
    before = _schema(path)
    migrate.upgrade(f"sqlite:///{path}")
    assert _schema(path) == before
    assert _version(path) == _head(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name, at FROM scheduler_marks").fetchall() == [("x", 1.5)]


def test_a_failed_upgrade_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    with sqlite3.connect(path) as db:
        # Somebody else's table with a name the migration creates after several others.
        db.execute("CREATE TABLE sync_pending (mine TEXT)")
    before = _schema(path)
    with pytest.raises(OperationalError, match="already exists"):
        migrate.upgrade(f"sqlite:///{path}")
    assert _schema(path) == before, "the tables made before the failure are rolled back"
    assert _version(path) is None


_UPGRADE = "import sys; from killreport.store import migrate; migrate.upgrade(sys.argv[1])"


async def _upgrade_in_a_process(url: str) -> int:
    # Processes, not threads: Alembic's `context` is one module-wide object per process.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _UPGRADE,
        url)
    return await proc.wait()


async def test_upgrades_started_together_run_the_migration_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    assert await asyncio.gather(*(_upgrade_in_a_process(url) for _ in range(2))) == [0, 0]
    assert _version(tmp_path / "k.db") == _head(url)
    assert _differences(tmp_path / "k.db") == []


def test_downgrade_to_base_removes_every_table_and_upgrade_brings_them_back(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    command.downgrade(migrate.alembic_config(url), "base")
    # sqlite_sequence is SQLite's own (AUTOINCREMENT's counters), kept once made.
    tables = {name for kind, name, _ in _schema(path) if kind == "table" and not name.startswith("sqlite_")}
    assert tables == {"alembic_version"}
    migrate.upgrade(url)
    assert _differences(path) == []


def test_the_url_picks_the_store_s_migrations() -> None:
    assert migrate.script_location("sqlite:///x.db") == PACKAGE / "store" / "sqlite" / "migrations"
    for url in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+asyncpg://u@h/db"):
        assert migrate.script_location(url) == PACKAGE / "store" / "migrations"
    assert _head("postgresql://u@h/db") != _head("sqlite:///x.db"), "two histories"


def test_the_migrations_ship_in_the_package() -> None:
    config: Mapping[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["killreport"]
    scripts = PACKAGE / "store" / "sqlite" / "migrations"
    files = [p.relative_to(PACKAGE).as_posix() for p in scripts.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    assert {"store/sqlite/migrations/env.py", "store/sqlite/migrations/script.py.mako",
            "store/sqlite/migrations/versions/0001_embedded_schema.py"} <= set(files)
    assert [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)] == []
