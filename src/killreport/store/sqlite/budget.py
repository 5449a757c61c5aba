"""The embedded budget's SQL: budget.rules.State as JSON in the one esi_budget_state row.

The rules run in Python (budget.rules); SQLite only keeps their state, so there is no PL/SQL
mirror to keep in step. An absent row is a fresh State: nothing has been reported yet, and so is
a row that cannot be read (logged): the rules start a fresh budget with a single probe request.
`budget_snapshot` is for `status` on the store's AsyncEngine; SqliteBudget reads and writes
through BudgetRow, synchronously on a thread of its own (BudgetRow says why).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import structlog
from sqlalchemy import Connection, bindparam, create_engine, event, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.budget.rules import RULES, Bucket, LeaseRec, Rules, State, esi_down
from killreport.budget.types import DOWNTIME, BucketState, BudgetSnapshot
from killreport.store.sqlite.tables import esi_budget_state

log = structlog.get_logger("killreport.budget")
T = TypeVar("T")


def _lease_json(lease: LeaseRec) -> dict[str, Any]:
    return {"id": lease.id, "route": lease.route, "group": lease.group, "probe": lease.probe,
            "expires_at": lease.expires_at, "down_probe": lease.down_probe}


def _bucket_json(bucket: Bucket) -> dict[str, Any]:
    return {"group": bucket.group, "window_s": bucket.window_s, "limit": bucket.limit,
            "remaining": bucket.remaining, "paused_until": bucket.paused_until,
            "spends": list(bucket.spends)}


def state_to_json(state: State) -> str:
    """The State as JSON text; state_from_json gives back an equal State."""
    return json.dumps({
        "error_remain": state.error_remain, "window_end": state.window_end,
        "paused_until": state.paused_until, "pause_reason": state.pause_reason,
        "last_wait_at": state.last_wait_at, "leases": [_lease_json(x) for x in state.leases],
        "buckets": {g: _bucket_json(b) for g, b in state.buckets.items()},
        "routes": dict(state.routes), "next_id": state.next_id,
        "unavailable_at": state.unavailable_at, "up_since": state.up_since,
        "status_next": state.status_next, "status_up": state.status_up,
    }, separators=(",", ":"))


def _bucket(raw: dict[str, Any]) -> Bucket:
    return Bucket(group=raw["group"], window_s=float(raw["window_s"]), limit=raw["limit"],
                  remaining=raw["remaining"], paused_until=float(raw["paused_until"]),
                  spends=tuple(float(s) for s in raw["spends"]))


def _lease(raw: dict[str, Any]) -> LeaseRec:
    return LeaseRec(id=raw["id"], route=raw["route"], group=raw["group"], probe=raw["probe"],
                    expires_at=float(raw["expires_at"]), down_probe=raw["down_probe"])


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


# Built once: constructing a statement costs more than SQLite takes to run it (bench/budget_sqlite.py).
_READ: Final = select(esi_budget_state.c.state).where(esi_budget_state.c.id == 1)
_UPSERT: Final = insert(esi_budget_state).values(id=1, state=bindparam("state"),
                                                 updated_at=bindparam("updated_at"))
_WRITE: Final = _UPSERT.on_conflict_do_update(
    index_elements=[esi_budget_state.c.id],
    set_={"state": _UPSERT.excluded.state, "updated_at": _UPSERT.excluded.updated_at})
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
    """The esi_budget_state row through a synchronous engine of its own (blocking: run on one thread).

    Why not the AsyncEngine: aiosqlite hands every call to the connection's thread and back, so a
    transaction of four calls took 2 ms here; the whole transaction in one hand-off takes a fraction.
    The last State read or written is kept with its text: while no other process has written since,
    the row's text is the same string and decoding it again is skipped.
    """

    def __init__(self, path: Path, *, lock_patience_s: float = LOCK_PATIENCE_S) -> None:
        self._engine = create_engine(f"sqlite:///{path}", pool_size=1, max_overflow=0)
        self._patience_s = lock_patience_s
        event.listen(self._engine, "connect", _pragmas)
        self._last: tuple[str, State] | None = None

    def _state(self, text: str | None) -> State:
        if self._last is not None and self._last[0] == text:
            return self._last[1]
        return _decoded(text)

    def transact(self, step: Callable[[State, float], tuple[State, T]], clock: Callable[[], float],
                 *, wait: bool = True) -> T:
        """Read the State, apply `step` at the clock's now, write it back, all in one BEGIN IMMEDIATE.

        Without `wait`, a write lock held elsewhere raises OperationalError ("database is locked")
        at once, before anything is read or written."""
        with self._engine.connect() as conn:
            # Python's sqlite3 would begin only at the write; the read must be inside (see write.py).
            _begin(conn, self._patience_s if wait else 0.0)
            now = clock()  # read once the write lock is ours: the State is current as of now
            state, result = step(self._state(conn.execute(_READ).scalar_one_or_none()), now)
            text = state_to_json(state)
            conn.execute(_WRITE, {"state": text, "updated_at": now})
            conn.commit()
        self._last = (text, state)
        return result

    def load(self) -> State:
        """The persisted State, read without taking the write lock."""
        with self._engine.connect() as conn:
            return self._state(conn.execute(_READ).scalar_one_or_none())

    def dispose(self) -> None:
        """Close the connection."""
        self._engine.dispose()


def _begin(conn: Connection, patience_s: float) -> None:
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
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc.orig) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, _LOCK_RETRY_S[1])


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in _PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


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


async def budget_snapshot(conn: AsyncConnection, rules: Rules = RULES) -> BudgetSnapshot:
    """The shared budget as `killreport status` shows it (an empty table: a fresh budget)."""
    return snapshot_of(await read_state(conn), time.time(), rules)
