"""What `status` (and anything else that shows the system) reports, gathered in one place."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.budget.pg import read_snapshot
from killreport.esi.counting import RouteStatus
from killreport.queue.broker import QueueAdmin
from killreport.store import entities, freshness, pending, request_counts, schedule

HOUR_S: Final = 3600.0
# The route templates each kind's refreshes use (killreport.esi.client.route_of names them so).
ROUTE_KINDS: Final[Mapping[str, str]] = {
    "/alliances": "alliance",
    "/alliances/{id}": "alliance",
    "/alliances/{id}/corporations": "alliance",
    "/corporations/{id}": "corporation",
    "/characters/{id}": "character",
    "/characters/affiliation": "character",
}


def kind_of_route(route: str) -> str | None:
    """The kind a route's requests refresh, or None (`/status`, unknown routes)."""
    return ROUTE_KINDS.get(route)


def last_hour(recent: Mapping[RouteStatus, int], kind: str) -> dict[str, Any]:
    """A kind's requests over the last hour and the share of them answered 304."""
    mine = {key: n for key, n in recent.items() if kind_of_route(key[0]) == kind}
    total = sum(mine.values())
    not_modified = sum(n for (_, status), n in mine.items() if status == 304)
    return {"requests_last_hour": total, "share_304": round(not_modified / total, 3) if total else None}


async def freshness_data(engine: AsyncEngine) -> dict[str, Any]:
    """Per kind: tracked, past Expires, the oldest overdue age, last hour's requests and 304 share."""
    async with engine.connect() as conn:
        kinds = await freshness.per_kind(conn)
    recent = await request_counts.recent(engine, HOUR_S)
    return {kind: {**dataclasses.asdict(f), **last_hour(recent, kind)} for kind, f in sorted(kinds.items())}


def scheduler_data(leader: schedule.Leader | None) -> dict[str, Any] | None:
    """Who leads the scheduling and since when; `active` only while it holds the lock."""
    if leader is None:
        return None
    return {"holder": leader.holder, "since": leader.started_at.isoformat(), "active": leader.locked,
            "heartbeat_age_s": round(leader.heartbeat_age_s, 1)}


async def status_data(engine: AsyncEngine, admin: QueueAdmin) -> dict[str, Any]:
    """Queues, pending work, the shared ESI budget, what is stored, requests, freshness, the scheduler."""
    async with engine.connect() as conn:
        work = await pending.counts(conn)
        stored = await entities.entity_counts(conn)
        leader = await schedule.leader(conn)
        raw = await conn.get_raw_connection()
        snapshot = await read_snapshot(raw.driver_connection)
    return {
        "queues": [dataclasses.asdict(q) for q in await admin.stats()],
        "pending": work,
        "stored": stored,
        "budget": dataclasses.asdict(snapshot),
        "requests": await request_counts.totals(engine),
        "freshness": await freshness_data(engine),
        "scheduler": scheduler_data(leader),
    }
