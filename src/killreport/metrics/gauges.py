"""The gauges read from the shared budget and the store every METRICS_REFRESH_S, not per scrape."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import structlog

from killreport.domain.budget import Budget, BudgetSnapshot
from killreport.metrics.names import Metrics
from killreport.store.freshness import Freshness
from killreport.store.interface import Store
from killreport.store.killmail_lease import following
from killreport.store.killmails import BackfillDay, FeedState

log = structlog.get_logger("killreport.metrics")


def show_budget(metrics: Metrics, snap: BudgetSnapshot) -> None:
    """Set the budget gauges from a snapshot."""
    g = metrics.gauges
    g["error_limit"].set(-1 if snap.error_limit_remaining is None else snap.error_limit_remaining)
    g["in_flight"].set(snap.in_flight)
    g["paused_until"].set(0 if snap.paused_until is None else snap.paused_until.timestamp())
    g["downtime"].set(1 if snap.downtime else 0)
    for bucket in snap.buckets:
        if bucket.remaining is not None:
            g["bucket"].labels(bucket.group).set(bucket.remaining)


def show_freshness(metrics: Metrics, kinds: dict[str, Freshness]) -> None:
    """Set the per-kind store gauges."""
    g = metrics.gauges
    for kind, fresh in kinds.items():
        g["stored"].labels(kind).set(fresh.tracked)
        g["overdue"].labels(kind).set(fresh.past_expires)
        g["oldest"].labels(kind).set(fresh.oldest_past_s or 0.0)


async def show_store(metrics: Metrics, store: Store) -> None:
    """Read the per-kind freshness and the kill feed once (whole-copy aggregates: see `refresh_forever`)."""
    async with store.connect() as conn:
        show_freshness(metrics, await store.admin.freshness(conn))
        feed = await store.killmails.feed_state(conn)
        days = await store.killmails.backfill_days(conn)
    show_killmails(metrics, feed, days, dt.datetime.now(dt.UTC))


def show_killmails(metrics: Metrics, feed: FeedState, days: list[BackfillDay], now: dt.datetime) -> None:
    """Set the kill feed's gauges (-1: not known yet)."""
    g = metrics.gauges
    for name, value in (("cursor", feed.cursor), ("head", feed.head), ("lag_kills", feed.lag_kills),
                        ("lag_seconds", feed.lag_s), ("stored", feed.stored), ("holes", feed.holes),
                        ("rejected", feed.rejected)):
        g[f"killmail_{name}"].set(-1 if value is None else value)
    g["killmail_feed_error"].set(0 if feed.last_error is None else 1)
    g["killmail_following"].set(1 if following(feed.holder, feed.heartbeat_at, now) else 0)
    g["killmail_backfill_days"].labels("all").set(len(days))
    g["killmail_backfill_days"].labels("complete").set(sum(d.complete for d in days))


async def show_shared_budget(metrics: Metrics, budget: Budget) -> None:
    """Read the shared budget once."""
    show_budget(metrics, await budget.snapshot())


async def refresh_forever(metrics: Metrics, read: Callable[[Metrics], Awaitable[None]],
                          every_s: float) -> None:
    """`read` the gauges every `every_s`; a failure is logged and the gauges keep their last value.

    Two of these run: the budget's in every process (a one-row read), and the copy's freshness only
    where a scheduler runs (`scheduler`, `run`): it aggregates every entity row, the same answer for
    the whole cluster, so workers need not each repeat it; dashboards take max() over instances.
    """
    while True:
        try:
            await read(metrics)
        except Exception as exc:
            # The database blinked: /readyz says so; the next round tries again.
            log.warning("metrics refresh failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0])
        await asyncio.sleep(every_s)
