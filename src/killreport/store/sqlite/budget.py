"""The embedded budget's SQL: domain.budget_rules.State as JSON in the one esi_budget_state row.

The rules run in Python (domain.budget_rules); SQLite only keeps their state, so there is no PL/SQL
mirror to keep in step. An absent row is a fresh State: nothing has been reported yet, and so is
a row that cannot be read (logged): the rules start a fresh budget with a single probe request.
`budget_snapshot` is for `status` on the store's AsyncEngine; SqliteBudget reads and writes
through BudgetRow, synchronously on a thread of its own (BudgetRow says why).
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import structlog
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain.budget import DOWNTIME, BucketState, BudgetSnapshot
from killreport.domain.budget_rules import RULES, Bucket, LeaseRec, Rules, State, esi_down
from killreport.store.sqlite.tables import esi_budget_state

log = structlog.get_logger("killreport.budget")
T = TypeVar("T")


_LEASE_FIELDS: Final = ("id", "route", "group", "probe", "expires_at", "down_probe")


def _lease_json(lease: LeaseRec) -> str:
    # A list in _LEASE_FIELDS' order, not an object: the State is written twice per ESI request
    # with up to ESI_MAX_INFLIGHT leases, and 32 lease objects made state_to_json 167 us, 8 % of
    # the embedded runner's CPU (py-spy); as lists, 54 us (and StateEncoder keeps each one's text).
    return _dumps([lease.id, lease.route, lease.group, lease.probe, lease.expires_at, lease.down_probe])


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _bucket_json(bucket: Bucket) -> dict[str, Any]:
    return {"group": bucket.group, "window_s": bucket.window_s, "limit": bucket.limit,
            "remaining": bucket.remaining, "paused_until": bucket.paused_until,
            "spends": list(bucket.spends)}


# Every field but next_id and the leases: what changes far less often than once per write.
_HEAD_FIELDS: Final = ("error_remain", "window_end", "paused_until", "pause_reason", "last_wait_at",
                       "buckets", "routes", "unavailable_at", "up_since", "status_next", "status_up")
_head_of: Final = operator.attrgetter(*_HEAD_FIELDS)


def _head_json(head: tuple[Any, ...]) -> str:
    """The head fields' values (in _HEAD_FIELDS' order) as a JSON object's text, unclosed."""
    fields = dict(zip(_HEAD_FIELDS, head, strict=True))
    fields["buckets"] = {g: _bucket_json(b) for g, b in fields["buckets"].items()}
    fields["routes"] = dict(fields["routes"])
    return _dumps(fields)[:-1]


def state_to_json(state: State, leases: Sequence[str] | None = None, head: str | None = None) -> str:
    """The State as JSON text; state_from_json gives back an equal State.

    `leases`, `head`: each lease's text and the head's, if known already (StateEncoder)."""
    head = _head_json(_head_of(state)) if head is None else head
    texts = [_lease_json(x) for x in state.leases] if leases is None else leases
    return f'{head},"next_id":{state.next_id},"leases":[{",".join(texts)}]}}'


class StateEncoder:
    """state_to_json, keeping the texts of what did not change since the last State it encoded.

    A write adds or drops one lease of up to ESI_MAX_INFLIGHT and moves next_id; the rest mostly
    stays as it was (the error limit's remaining changes only with an error or a new window).
    Encoding every lease every time was 7 % of the embedded runner's CPU; with each lease's text
    kept, the head's encoding and the bookkeeping still cost 36-38 us of a reserve+settle pair (6.8 %
    under py-spy, bench/embedded.py); with the head's text kept too, and leases found by their id
    rather than id(), 15.6 us (docs/performance.md, 2026-12-01).
    """

    def __init__(self) -> None:
        self._leases: dict[int, tuple[LeaseRec, str]] = {}  # by lease id, with the lease it encoded
        self._head: tuple[tuple[Any, ...], str] = (tuple(object() for _ in _HEAD_FIELDS), "")

    def __call__(self, state: State) -> str:
        """The same text as state_to_json(state)."""
        head = _head_of(state)
        # The same objects, not equal ones: 0.0 == -0.0 and 1 == 1.0 == True, but their texts differ.
        # The rules copy a State with the fields they did not change as they were (dataclasses.replace).
        if not all(map(operator.is_, head, self._head[0])):
            self._head = (head, _head_json(head))
        kept, leases, texts = self._leases, {}, []
        for lease in state.leases:
            entry = kept.get(lease.id)
            if entry is None or entry[0] is not lease:
                entry = (lease, _lease_json(lease))
            leases[lease.id] = entry
            texts.append(entry[1])
        self._leases = leases
        return state_to_json(state, texts, self._head[1])


def _bucket(raw: dict[str, Any]) -> Bucket:
    return Bucket(group=raw["group"], window_s=float(raw["window_s"]), limit=raw["limit"],
                  remaining=raw["remaining"], paused_until=float(raw["paused_until"]),
                  spends=tuple(float(s) for s in raw["spends"]))


def _lease(raw: list[Any] | dict[str, Any]) -> LeaseRec:
    # An object: as written before leases became lists.
    values = dict(zip(_LEASE_FIELDS, raw, strict=True)) if isinstance(raw, list) else raw
    return LeaseRec(id=values["id"], route=values["route"], group=values["group"], probe=values["probe"],
                    expires_at=float(values["expires_at"]), down_probe=values["down_probe"])


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def state_from_json(text: str) -> State:
    """The State that state_to_json wrote; a field it lacks (written by an older version) is fresh."""
    raw = json.loads(text)
    fresh = State()

    def get(name: str) -> Any:
        return raw.get(name, getattr(fresh, name))

    return State(
        error_remain=get("error_remain"), window_end=float(get("window_end")),
        paused_until=float(get("paused_until")), pause_reason=get("pause_reason"),
        last_wait_at=float(get("last_wait_at")), leases=tuple(_lease(x) for x in get("leases")),
        buckets={g: _bucket(b) for g, b in dict(get("buckets")).items()}, routes=dict(get("routes")),
        next_id=get("next_id"), unavailable_at=_float_or_none(get("unavailable_at")),
        up_since=float(get("up_since")), status_next=float(get("status_next")),
        status_up=get("status_up"),
    )


_READ: Final = select(esi_budget_state.c.state).where(esi_budget_state.c.id == 1)
# BudgetRow's statements, as sqlite3 takes them (the table is tables.esi_budget_state).
_READ_SQL: Final = "SELECT state FROM esi_budget_state WHERE id = 1"
_WRITE_SQL: Final = ("INSERT INTO esi_budget_state (id, state, updated_at) VALUES (1, ?, ?) ON CONFLICT (id) "
                     "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at")
# engine.py's pragmas, but no busy timeout: _begin waits for the write lock itself (it says why).
_PRAGMAS: Final = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=0")
LOCK_PATIENCE_S: Final = 30.0  # as long as engine.py's busy timeout lets the store's writes wait
_LOCK_RETRY_S: Final = (0.0001, 0.0005)  # first and longest pause between tries for the write lock


def _decoded(text: str | None) -> State:
    """The State a stored text holds; a fresh State when there is none or it cannot be read."""
    if text is None:
        return State()
    try:
        return state_from_json(text)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # A fresh State is safe (one probe until ESI reports again); refusing every request is not.
        log.warning("budget state unreadable; starting afresh", error=f"{type(exc).__name__}: {exc}")
        return State()


async def read_state(conn: AsyncConnection) -> State:
    """The persisted State; a fresh State when the row does not exist yet or cannot be read."""
    return _decoded((await conn.execute(_READ)).scalar_one_or_none())


class BudgetRow:
    """The esi_budget_state row through a sqlite3 connection of its own (blocking calls).

    Why not an engine: through aiosqlite every call was a hand-off to a thread and back (a
    transaction of four calls took 2 ms); through a synchronous SQLAlchemy engine, the pool's
    checkout and four Core statements cost about 5x what SQLite takes to run them, and a
    transaction runs twice per ESI request (py-spy during bench/embedded.py: 16 % of the
    embedded runner's CPU). Four sqlite3 calls are all it takes. Errors are raised as SQLAlchemy's
    (DBAPIError), as from the store.
    The last State read or written is kept with its text: while no other process has written since,
    the row's text is the same string and decoding it again is skipped.
    Used by one thread at a time (SqliteBudget sees to it), not always the same one.
    """

    def __init__(self, path: Path, *, lock_patience_s: float = LOCK_PATIENCE_S) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._patience_s = lock_patience_s
        self._last: tuple[str, State] | None = None
        self._encode = StateEncoder()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, timeout=0, isolation_level=None, check_same_thread=False)
            try:
                for pragma in _PRAGMAS:
                    conn.execute(pragma)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _state(self, text: str | None) -> State:
        if self._last is not None and self._last[0] == text:
            return self._last[1]
        return _decoded(text)

    def transact(self, step: Callable[[State, float], tuple[State, T]], clock: Callable[[], float],
                 *, wait: bool = True) -> T:
        """Read the State, apply `step` at the clock's now, write it back, all in one BEGIN IMMEDIATE.

        Without `wait`, a write lock held elsewhere raises OperationalError ("database is locked")
        at once, before anything is read or written."""
        statement = "BEGIN IMMEDIATE"
        try:
            conn = self._connection()
            # Python's sqlite3 would begin only at the write; the read must be inside (see write.py).
            _begin(conn, self._patience_s if wait else 0.0)
            try:
                now = clock()  # read once the write lock is ours: the State is current as of now
                statement = _READ_SQL
                row = conn.execute(_READ_SQL).fetchone()
                state, result = step(self._state(None if row is None else row[0]), now)
                text = self._encode(state)
                statement = _WRITE_SQL
                conn.execute(_WRITE_SQL, (text, now))
                statement = "COMMIT"
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise _wrapped(statement, exc) from exc
        self._last = (text, state)
        return result

    def transact_all(self, steps: Sequence[Callable[[State, float], tuple[State, Any]]],
                     clock: Callable[[], float], *, wait: bool = True) -> list[Any]:
        """`steps` in order in one `transact` (each sees the State the one before left); their results."""
        results: list[Any] = []

        def every(state: State, now: float) -> tuple[State, list[Any]]:
            for step in steps:
                state, result = step(state, now)
                results.append(result)
            return state, results

        return self.transact(every, clock, wait=wait)

    def load(self) -> State:
        """The persisted State, read without taking the write lock."""
        try:
            row = self._connection().execute(_READ_SQL).fetchone()
        except sqlite3.Error as exc:
            raise _wrapped(_READ_SQL, exc) from exc
        return self._state(None if row is None else row[0])

    def dispose(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _wrapped(statement: str, exc: sqlite3.Error) -> DBAPIError:
    """sqlite3's error as SQLAlchemy raises it (OperationalError for "database is locked"...)."""
    wrapped = DBAPIError.instance(statement, None, exc, sqlite3.Error)
    assert isinstance(wrapped, DBAPIError)
    return wrapped


def _begin(conn: sqlite3.Connection, patience_s: float) -> None:
    """BEGIN IMMEDIATE, trying again every fraction of a millisecond while another writer holds the file.

    Why not SQLite's busy timeout: its handler sleeps 1, 2, 5, 10... ms between tries, and with the
    runner's store writes (and acks) committing hundreds of times a second, a budget call waited
    several of those each time: 168 reserve+settle pairs/s beside a process committing ~380 times a
    second, 265/s asking this often. The budget is on the path of every request, so it asks often;
    it runs on its own thread, so the waiting blocks no event loop.
    """
    deadline, pause = time.monotonic() + patience_s, _LOCK_RETRY_S[0]
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, _LOCK_RETRY_S[1])


def _at(seconds: float) -> dt.datetime | None:
    """An epoch-seconds instant as a datetime; None for 'never set'."""
    if seconds <= 0:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def snapshot_of(state: State, now: float, rules: Rules = RULES) -> BudgetSnapshot:
    """A State in the shape `killreport status` shows (as MemoryBudget.snapshot gives it)."""
    down = esi_down(state.unavailable_at, state.up_since, now, rules)
    buckets = [
        BucketState(group=b.group, limit=b.limit, window_s=int(b.window_s), remaining=b.remaining,
                    reported_at=None, paused_until=_at(b.paused_until))
        for b in sorted(state.buckets.values(), key=lambda b: b.group)
    ]
    return BudgetSnapshot(
        error_limit_remaining=state.error_remain, error_limit_reset_at=_at(state.window_end),
        paused_until=_at(state.paused_until),
        pause_reason=DOWNTIME if down else state.pause_reason,
        in_flight=sum(1 for lease in state.leases if lease.expires_at >= now),
        buckets=buckets, route_groups=dict(state.routes), downtime=down,
    )


async def budget_snapshot(conn: AsyncConnection, rules: Rules, now: float | None = None) -> BudgetSnapshot:
    """The shared budget as `killreport status` shows it (an empty table: a fresh budget), at `now`
    (None: this machine's clock)."""
    return snapshot_of(await read_state(conn), time.time() if now is None else now, rules)
