"""No private SQLAlchemy attribute in src/killreport but where ALLOWED says why, and the public paths
that replaced two of them still agree with SQLAlchemy's private ones (so an upgrade that changes
those fails here). The one module allowed, the SQLite driver, is pinned by what SQLAlchemy's adapter
does with it."""

from __future__ import annotations

import ast
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection, AsyncAdapt_asyncpg_dbapi
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection

from killreport.ids import KINDS
from killreport.store import entities, http_cache, pending
from killreport.store.dialects import SQLITE
from killreport.store.jobs import _lite_read
from killreport.store.raw import ASYNCPG_KINDS, as_dbapi_error
from killreport.store.sqlite import driver, fast
from killreport.store.sqlite.engine import open_engine

SRC: Final = Path(__file__).resolve().parents[2] / "src" / "killreport"
# SQLAlchemy's private attributes that code has reached for (or might): the adapters' and the
# compiler's internals, the pool's records, and `_sa_`-prefixed instance state.
KNOWN_PRIVATE: Final = frozenset({
    "_result_columns", "_handle_exception", "_handle_exception_no_connection", "_connection",
    "_dbapi_connection", "_transaction", "_adapt_connection", "_execute_mutex", "_prepare", "_cursor",
    "_compiled_cache", "_execution_options", "_proxied", "_sync_connection", "_asyncpg_error_translate",
    "_start_transaction", "_connection_record", "_invalidate_schema_cache_asof", "_raw_columns",
    "_where_criteria", "_values", "_multi_values", "_returning", "_ordered_values",
})
# What SQLAlchemy's aiosqlite adapter reads of its driver's connection (its `_connection`, that
# connection's `_conn` and `_tx`): a class defining two of them imitates aiosqlite's connection.
ADAPTER_READS: Final = frozenset({"_connection", "_conn", "_tx"})
# Module (path under src/killreport) -> why it may use one (and the test that pins it).
ALLOWED: Final[dict[str, str]] = {
    "store/sqlite/driver.py": "imitates aiosqlite's connection for SQLAlchemy's aiosqlite adapter; its "
    "docstring says why (measured) and what replacing it would cost; "
    "test_the_aiosqlite_adapter_drives_the_driver_through_what_it_imitates pins it",
}


def _defined(cls: ast.ClassDef) -> set[str]:
    """Names a class defines: its methods and properties, and what it assigns to `self.`."""
    names = {n.name for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    for node in ast.walk(cls):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        names |= {t.attr for t in targets if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                  and t.value.id == "self"}
    return names


def _private_uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef) and len(imitated := _defined(node) & ADAPTER_READS) > 1:
            found.append(f"{node.lineno}: class {node.name} defines {', '.join(sorted(imitated))}")
        if isinstance(node, ast.Attribute):
            own = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if not own and (node.attr in KNOWN_PRIVATE or node.attr.startswith("_sa_")):
                found.append(f"{node.lineno}: .{node.attr}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
                and node.args[1].value.startswith("_") and not node.args[1].value.startswith("__")):
            found.append(f"{node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
    return sorted(found, key=lambda use: int(use.partition(":")[0]))


def test_no_private_sqlalchemy_attribute_outside_the_allowed_modules() -> None:
    found = {str(p.relative_to(SRC)): uses for p in sorted(SRC.rglob("*.py")) if (uses := _private_uses(p))}
    unexplained = {module: uses for module, uses in found.items() if module not in ALLOWED}
    assert unexplained == {}, "use public API, or list the module in ALLOWED with why (and pin a test)"


def test_the_scan_sees_what_it_looks_for(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("a = compiled._result_columns\nb = getattr(x, '_handle_exception')\n"
                     "c = self._connection\n"
                     "class Own:\n    def __init__(self):\n        self._conn = 1\n"
                     "class Shaped:\n    def __init__(self):\n        self._tx = 1\n"
                     "    @property\n    def _conn(self):\n        return 1\n")
    assert _private_uses(probe) == ["1: ._result_columns", "2: getattr(..., '_handle_exception')",
                                    "7: class Shaped defines _conn, _tx"]


async def test_the_aiosqlite_adapter_drives_the_driver_through_what_it_imitates(tmp_path: Path) -> None:
    # driver.py stands where aiosqlite's connection stands: the adapter must hold our object, put an
    # isolation-level change on its `_tx` (applied to `_conn`, the sqlite3 connection), and commit
    # through it while `_connection` is set. A release that reads otherwise fails here.
    engine = open_engine(f"sqlite:///{tmp_path / 'pin.db'}", pool_size=1)
    try:
        async with engine.connect() as conn:
            fairy = await conn.get_raw_connection()
            ours = fairy.driver_connection
            assert isinstance(fairy.dbapi_connection, AsyncAdapt_aiosqlite_connection)
            assert isinstance(ours, driver.Connection)
            handed: list[Callable[[], object]] = []
            put = ours._tx.put_nowait

            def spy(item: tuple[object, Callable[[], object]]) -> None:
                handed.append(item[1])
                put(item)

            ours._tx.put_nowait = spy
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            assert len(handed) == 1 and ours.raw.isolation_level is None, "set through _tx, on _conn"
            await conn.execution_options(isolation_level="SERIALIZABLE")
            assert len(handed) == 2 and ours.raw.isolation_level is not None
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            await conn.commit()  # reaches sqlite3 only while the adapter sees `_connection` set
        with sqlite3.connect(str(tmp_path / "pin.db")) as other:
            assert other.execute("SELECT id FROM t").fetchall() == [(1,)]
    finally:
        await engine.dispose()


def _asyncpg_errors() -> list[type[Exception]]:
    return sorted({c for c in vars(asyncpg.exceptions).values()
                   if isinstance(c, type) and issubclass(c, Exception)}, key=lambda c: c.__name__)


def test_the_asyncpg_error_map_is_the_adapters() -> None:
    dbapi = AsyncAdapt_asyncpg_dbapi(asyncpg)  # type: ignore[no-untyped-call]
    theirs: dict[type, Any] = dbapi._asyncpg_error_translate
    assert {cls.__name__: kind.__name__ for cls, kind in theirs.items()} == ASYNCPG_KINDS


@pytest.mark.parametrize("error_class", _asyncpg_errors(), ids=lambda c: c.__name__)
def test_each_asyncpg_error_becomes_the_kind_the_adapter_makes_it(error_class: type[Exception]) -> None:
    dbapi = AsyncAdapt_asyncpg_dbapi(asyncpg)  # type: ignore[no-untyped-call]
    error = error_class("boom")
    expected: type[BaseException] | None = None
    try:  # what SQLAlchemy's adapter raises for it (private: this test pins it)
        AsyncAdapt_asyncpg_connection._handle_exception_no_connection(dbapi, error)
    except Exception as raised:
        expected = type(raised)
    assert type(as_dbapi_error(dbapi, error)) is expected


def _fast_statements() -> list[Any]:
    statements: list[Any] = [pending.claim_statement(SQLITE), pending.among_statement(SQLITE),
                             pending.unpublished_statement(True, SQLITE), http_cache.fresh_statement(SQLITE),
                             entities.MEMBERS_OF, pending.forget_unclaimed_statement(SQLITE)]
    for kind in KINDS:
        added = pending.add_statement(kind, skip_fresh=True, published=True, sql=SQLITE)
        statements += [_lite_read(kind), added]
    return statements


@pytest.mark.parametrize("statement", _fast_statements())
def test_fast_reads_the_result_columns_sqlalchemy_compiles(statement: Any) -> None:
    compiled: Any = statement.compile(dialect=fast._DIALECT)
    theirs = [(c[0], repr(c[3])) for c in compiled._result_columns]
    ours = fast.compiled(statement)
    assert list(zip(ours.columns, [repr(c.type) for c in statement.exported_columns], strict=True)) == theirs
