"""The embedded budget's row: the runner's domain.budget_rules.State as JSON in esi_budget_state.

The rules run in the memory of the one process holding the runner lock (budget/sqlite.py); it
writes its State here for the readers in other processes (`budget_snapshot`: status, --watch, the
web, sync-all --wait's progress) and for the next runner, which starts from it. An absent row is a
fresh State (nothing reported yet), and so is a row that cannot be read (logged): the rules start a
fresh budget with a single probe request.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Final

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.domain.budget import BudgetSnapshot
from killreport.domain.budget_rules import Bucket, LeaseRec, RouteCap, Rules, State, snapshot_of
from killreport.store.sqlite.tables import esi_budget_state

log = structlog.get_logger("killreport.budget")

# A row written longer ago than this is a stopped (or killed) runner's: its leases are shown as
# none in flight. A runner holding leases writes at least every STALE_S / 2 (budget/sqlite.py).
STALE_S: Final = 10.0


_LEASE_FIELDS: Final = ("id", "route", "group", "probe", "expires_at", "down_probe")


def state_to_json(state: State) -> str:
    """The State as JSON text; state_from_json gives back an equal State."""
    return json.dumps(dataclasses.asdict(state), separators=(",", ":"))


def _bucket(raw: dict[str, Any]) -> Bucket:
    return Bucket(group=raw["group"], window_s=float(raw["window_s"]), limit=raw["limit"],
                  remaining=raw["remaining"], paused_until=float(raw["paused_until"]),
                  spends=tuple(float(s) for s in raw["spends"]))


def _lease(raw: list[Any] | dict[str, Any]) -> LeaseRec:
    # A list in _LEASE_FIELDS' order: as an older version wrote them.
    values = dict(zip(_LEASE_FIELDS, raw, strict=True)) if isinstance(raw, list) else raw
    return LeaseRec(id=values["id"], route=values["route"], group=values["group"], probe=values["probe"],
                    expires_at=float(values["expires_at"]), down_probe=values["down_probe"],
                    granted_at=float(values.get("granted_at", 0.0)))


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
        # Caps an older version wrote were per route ("route", no "group"): they start afresh.
        caps={g: _cap(c) for g, c in dict(get("caps")).items() if "group" in c},
    )


def _cap(raw: dict[str, Any]) -> RouteCap:
    return RouteCap(group=raw["group"], next_at=float(raw["next_at"]), factor=float(raw["factor"]),
                    reduced_until=float(raw["reduced_until"]), hits=int(raw["hits"]),
                    cut_at=float(raw["cut_at"]))


_b = esi_budget_state.c
_READ: Final = select(_b.state, _b.updated_at).where(_b.id == 1)
_WRITE: Final = insert(esi_budget_state)
_UPSERT: Final = _WRITE.on_conflict_do_update(index_elements=[_b.id], set_={
    "state": _WRITE.excluded.state, "updated_at": _WRITE.excluded.updated_at})


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


async def _row(conn: AsyncConnection) -> tuple[State, float]:
    row = (await conn.execute(_READ)).first()
    if row is None:
        return State(), 0.0
    return _decoded(row.state), float(row.updated_at)


async def read_state(conn: AsyncConnection) -> State:
    """The State the last runner wrote; a fresh State when there is none or it cannot be read."""
    return (await _row(conn))[0]


async def write_state(conn: AsyncConnection, state: State, now: float) -> None:
    """Write the runner's State, marked with when (epoch seconds)."""
    await conn.execute(_UPSERT, {"id": 1, "state": state_to_json(state), "updated_at": now})


async def budget_snapshot(conn: AsyncConnection, rules: Rules, now: float | None = None) -> BudgetSnapshot:
    """The budget as `killreport status` shows it (no row: a fresh budget), at `now` (None: this
    machine's clock); a row older than STALE_S shows nothing in flight (no runner is writing it)."""
    state, written = await _row(conn)
    at = time.time() if now is None else now
    return snapshot_of(state, at, rules, leases=at - written <= STALE_S)
