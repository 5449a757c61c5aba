"""The SQLite driver under every AsyncEngine on the file: sqlite3 called on the event loop's thread.

SQLAlchemy's aiosqlite dialect drives it (its adapter wraps this connection as it wraps aiosqlite's:
engine.py passes `connect` as the engine's async_creator), so statements, types and errors are
sqlite3's, exactly as before. What changes is where the calls run. Trade-offs, decided here:

- aiosqlite hands every call to a thread of its own and back: a statement was four hand-offs
  (cursor, execute, fetchall, close), a pooled connection three more (rollback, isolation level
  there and back), about 80 per ESI request of `sync-all` (counted with cProfile). Each costs a
  wake-up of two threads and a turn of the event loop; on a busy machine, several milliseconds
  while every job waited for the store's one connection. bench/embedded.py measures it.
- Here a call runs at once, on the caller's thread, with SQLite's busy timeout at 0: a statement
  takes microseconds (WAL: a reader never waits; `synchronous=NORMAL`: a commit does not sync).
- A call that finds the write lock held (SQLITE_BUSY) changed nothing, and runs again on the
  connection's own thread, where SQLite waits up to `busy_timeout_ms` for the lock: waiting for
  another writer never blocks the event loop. The one exception is `executemany` in autocommit
  mode, whose rows commit one by one: a BUSY halfway could not be retried whole, so it goes to the
  thread at once.
- A call runs only once the connection's previous one has ended (one whose caller was cancelled
  may still run on the thread).
- The price: a long read (a search scanning every row) holds the event loop while it runs, as
  CPU-bound Python would.

Can it go? Not by itself; by a change of what the SQLite store is handed, yes, at no cost in speed.
- Its debt: it imitates aiosqlite's connection down to the private attributes SQLAlchemy's aiosqlite
  adapter reads (`_connection`, `_conn`, `_tx`: sqlalchemy/dialects/sqlite/aiosqlite.py), so a
  SQLAlchemy or aiosqlite release that renames them breaks it (tests/embedded/test_sqlite_driver.py
  would show it).
- The public-API path: SQLAlchemy's sync pysqlite dialect, its sqlite3 connection from
  `create_engine("sqlite://", creator=...)`, called on the event loop's thread as here. It is cheaper
  per statement (bench/sqlite_ways.py, a primary-key SELECT and an upsert alternated, 6,000
  statements, 3 runs on a loaded 2-core machine): this driver under the AsyncEngine 49-54 us CPU
  per statement, sync pysqlite 20-23 us (no greenlet hop, no adapter), aiosqlite 196-261 us. The
  job path would not notice (store/sqlite/fast.py runs it on the sqlite3 connection either way:
  `Connection.connection.driver_connection` is that connection on pysqlite too).
- What it would cost: the Store hands every query an AsyncConnection, on both dialects (the contract
  tests run one body on both); on a sync engine each SQLite query module (schedule, lookup, admin,
  queue: about 50 `conn.execute` calls) would take a sync Connection, or a small async facade over
  one would stand where this driver stands, and the one thing only this driver does, running a call
  that met SQLITE_BUSY again on a thread where SQLite waits for the lock, would move into that
  facade (fast.py's `retry` already names the rule). Without it a busy file would block the event
  loop for up to the busy timeout. A change of the seam, not of this file: left for its own step.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

T = TypeVar("T")

SQLITE_BUSY: Final = 5  # the primary result code; extended codes (BUSY_RECOVERY...) share its low byte


def _busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == SQLITE_BUSY


async def connect(path: str, *, busy_timeout_ms: int) -> Connection:
    """Open the file (sqlite3's defaults otherwise: deferred transactions, no type detection)."""
    raw = sqlite3.connect(path, timeout=0, check_same_thread=False)
    return Connection(raw, busy_timeout_ms)


class _Handoff:
    """What SQLAlchemy's adapter puts an isolation-level change on (aiosqlite's `_tx` queue)."""

    def __init__(self, owner: Connection) -> None:
        self._owner = owner

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        self._owner.run_now_or_after(function, future)


class Connection:
    """An aiosqlite-shaped connection whose calls run on the caller's thread (see the module)."""

    def __init__(self, raw: sqlite3.Connection, busy_timeout_ms: int) -> None:
        self._connection: sqlite3.Connection | None = raw  # the adapter tests it, as on aiosqlite
        self._tx = _Handoff(self)
        self._busy_timeout_ms = busy_timeout_ms
        self._thread: ThreadPoolExecutor | None = None
        self._running: asyncio.Future[Any] | None = None  # the call on the thread, if any

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    @property
    def raw(self) -> sqlite3.Connection:
        """The sqlite3 connection itself (store/sqlite/fast.py runs whole transactions on it)."""
        return self._conn

    @property
    def in_transaction(self) -> bool:
        """sqlite3's: a transaction is open on the connection."""
        return self._conn.in_transaction

    @property
    def isolation_level(self) -> str | None:
        """sqlite3's: None is autocommit."""
        return self._conn.isolation_level

    def cursor(self) -> Cursor:
        """A cursor (SQLAlchemy enters it with `await cursor.__aenter__()`)."""
        return Cursor(self, self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        """One statement on a new cursor (aiosqlite's shortcut)."""
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        """Commit (a COMMIT that meets a busy lock is tried again on the thread)."""
        await self.call(self._conn.commit)

    async def rollback(self) -> None:
        """Roll back; nothing to do (and no call) outside a transaction, as after most jobs."""
        if self._connection is not None and (self._running is not None or self._conn.in_transaction):
            await self.call(self._conn.rollback)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        """sqlite3's create_function (SQLAlchemy registers `regexp`)."""
        await self.call(lambda: self._conn.create_function(*args, **kwargs))

    async def close(self) -> None:
        """Let a call still on the thread end, then close the file and the thread."""
        await self._idle()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._thread is not None:
            self._thread.shutdown(wait=False)
            self._thread = None

    def stop(self) -> None:
        """Close without waiting (SQLAlchemy's terminate): after the thread's call, if one runs."""
        raw, self._connection = self._connection, None
        if raw is None:
            return
        if self._thread is not None:
            self._thread.submit(raw.close)
            self._thread.shutdown(wait=False)
            self._thread = None
        else:
            raw.close()

    async def call(self, work: Callable[[], T], *, retry: bool = True) -> T:
        """`work` on this thread now; on SQLITE_BUSY (if `retry`) again on the connection's thread."""
        await self._idle()
        if retry:
            try:
                return work()
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
        return await self._waiting(work)

    async def _waiting(self, work: Callable[[], T]) -> T:
        """`work` on the connection's thread, with SQLite waiting up to the busy timeout for the lock."""
        raw, patience = self._conn, self._busy_timeout_ms

        def patiently() -> T:
            raw.execute(f"PRAGMA busy_timeout={int(patience)}")  # an int: PRAGMA takes no parameters
            try:
                return work()
            finally:
                raw.execute("PRAGMA busy_timeout=0")

        running = asyncio.get_running_loop().run_in_executor(self._executor(), patiently)
        self._running = running
        running.add_done_callback(_seen)
        return await asyncio.shield(running)

    def _executor(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="killreport-sqlite")
        return self._thread

    async def _idle(self) -> None:
        """Wait for the call still running on the thread (its caller was cancelled), if any."""
        running = self._running
        if running is not None:
            if not running.done():
                await asyncio.wait([running])
            self._running = None

    def run_now_or_after(self, work: Callable[[], Any], future: asyncio.Future[Any] | None) -> None:
        """`work` now, or on the thread after the call running there; its outcome to `future`."""
        running = self._running
        if running is not None and not running.done() and self._thread is not None:
            later = asyncio.wrap_future(self._thread.submit(work))
            if future is not None:
                later.add_done_callback(lambda ended: _copy(ended, future))
            return
        try:
            result = work()
        except Exception as exc:
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class Cursor:
    """An aiosqlite-shaped cursor: `execute` runs the statement and reads all its rows in one call."""

    arraysize = 1

    def __init__(self, owner: Connection, raw: sqlite3.Cursor) -> None:
        self._owner = owner
        self._raw = raw
        self._rows: list[Any] = []
        self._next = 0
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        """Run the statement and keep its rows."""
        raw = self._raw

        def run() -> list[Any]:
            raw.execute(sql, parameters)
            return raw.fetchall() if raw.description is not None else []

        self._keep(await self._owner.call(run))
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> Cursor:
        """Run the statement for each parameter set."""
        raw, params = self._raw, list(seq_of_parameters)
        conn = self._owner._conn
        # Autocommit: each row commits alone, so a BUSY at row k could not be retried whole.
        whole = conn.isolation_level is not None or conn.in_transaction

        def run() -> list[Any]:
            raw.executemany(sql, params)
            return []

        self._keep(await self._owner.call(run, retry=whole))
        return self

    def _keep(self, rows: list[Any]) -> None:
        self._rows, self._next = rows, 0
        self.description, self.rowcount, self.lastrowid = (
            self._raw.description, self._raw.rowcount, self._raw.lastrowid)

    async def fetchone(self) -> Any:
        """The next row kept, or None."""
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to `size` (arraysize) of the rows kept."""
        end = self._next + (size or self.arraysize)
        rows, self._next = self._rows[self._next:end], min(end, len(self._rows))
        return rows

    async def fetchall(self) -> list[Any]:
        """Every row kept not yet fetched."""
        rows, self._next = self._rows[self._next:], len(self._rows)
        return rows

    async def close(self) -> None:
        """Forget the rows (sqlite3 finalizes the cursor when it goes)."""
        self._rows, self._next = [], 0


def _copy(ended: asyncio.Future[Any], to: asyncio.Future[Any]) -> None:
    if to.done():
        return
    if ended.cancelled():
        to.cancel()
    elif ended.exception() is not None:
        to.set_exception(ended.exception())  # type: ignore[arg-type]
    else:
        to.set_result(ended.result())


def _seen(done: asyncio.Future[Any]) -> None:
    """Mark the outcome of a call whose caller was cancelled as seen (asyncio warns otherwise)."""
    if not done.cancelled():
        done.exception()
