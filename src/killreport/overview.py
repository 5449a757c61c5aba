"""What `status` (and anything else that shows the system) reports, gathered in one place."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from killreport.domain.routes import RouteStatus
from killreport.queue.broker import QueueAdmin
from killreport.store.budget_view import BudgetView
from killreport.store.interface import Store
from killreport.store.killmail_lease import following, heartbeat_age_s
from killreport.store.killmails import BackfillDay, FeedState
from killreport.store.schedule import Leader

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


async def freshness_data(store: Store) -> dict[str, Any]:
    """Per kind: tracked, past Expires, the oldest overdue age, last hour's requests and 304 share."""
    async with store.connect() as conn:
        kinds = await store.admin.freshness(conn)
        recent = await store.admin.recent_requests(conn, HOUR_S)
    return {kind: {**dataclasses.asdict(f), **last_hour(recent, kind)} for kind, f in sorted(kinds.items())}


def scheduler_data(leader: Leader | None) -> dict[str, Any] | None:
    """Who leads the scheduling and since when; `active` only while it holds the lock."""
    if leader is None:
        return None
    return {"holder": leader.holder, "since": leader.started_at.isoformat(), "active": leader.locked,
            "heartbeat_age_s": round(leader.heartbeat_age_s, 1)}


async def status_data(store: Store, admin: QueueAdmin, budget: BudgetView) -> dict[str, Any]:
    """Queues, pending work, the shared ESI budget, what is stored, requests, freshness, the scheduler."""
    async with store.connect() as conn:
        work = await store.admin.pending_counts(conn)
        stored = await store.admin.entity_counts(conn)
        leader = await store.schedule.leader(conn)
        snapshot = await budget.snapshot(store, conn)
        totals = await store.admin.request_totals(conn)
    return {
        "queues": [dataclasses.asdict(q) for q in await admin.stats()],
        "pending": work,
        "stored": stored,
        "budget": dataclasses.asdict(snapshot),
        "requests": totals,
        "freshness": await freshness_data(store),
        "scheduler": scheduler_data(leader),
        "killmails": await killmail_data(store),
    }


async def killmail_data(store: Store) -> dict[str, Any]:
    """The kill feed (cursor, head, lag, holes, kept aside, last error, who follows) and the back-fill."""
    async with store.connect() as conn:
        feed = await store.killmails.feed_state(conn)
        days = await store.killmails.backfill_days(conn)
    return {"feed": feed_data(feed, dt.datetime.now(dt.UTC)), "backfill": backfill_data(days)}


def feed_data(feed: FeedState, now: dt.datetime) -> dict[str, Any]:
    """The feed's state, with how long ago the follower beat and the head was read, and whether a
    follower still follows."""
    return {**dataclasses.asdict(feed), "heartbeat_age_s": heartbeat_age_s(feed.heartbeat_at, now),
            "head_seen_age_s": heartbeat_age_s(feed.head_seen_at, now),
            "following": following(feed.holder, feed.heartbeat_at, now)}


def backfill_data(days: list[BackfillDay]) -> dict[str, Any]:
    """The back-fill's days in sum: how many, how many complete, kills listed and stored, the range."""
    return {"days": len(days), "complete": sum(d.complete for d in days),
            "listed": sum(d.listed for d in days), "stored": sum(d.stored for d in days),
            "newest": days[0].day if days else None, "oldest": days[-1].day if days else None,
            "incomplete": [d.day for d in days if d.finished_at is not None and not d.complete]}
