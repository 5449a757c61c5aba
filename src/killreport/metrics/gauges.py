"""The gauges read from the shared budget and the store every METRICS_REFRESH_S, not per scrape."""

from __future__ import annotations

import asyncio

import structlog

from killreport.budget.types import Budget, BudgetSnapshot
from killreport.metrics.names import Metrics
from killreport.store.freshness import Freshness
from killreport.store.interface import Store

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


async def refresh_once(metrics: Metrics, store: Store, budget: Budget) -> None:
    """Read the budget and the freshness once."""
    show_budget(metrics, await budget.snapshot())
    async with store.connect() as conn:
        show_freshness(metrics, await store.admin.freshness(conn))


async def refresh_forever(metrics: Metrics, store: Store, budget: Budget, every_s: float) -> None:
    """Refresh the gauges every `every_s`; a failure is logged and the gauges keep their last value."""
    while True:
        try:
            await refresh_once(metrics, store, budget)
        except Exception as exc:
            # The database blinked: /readyz says so; the next round tries again.
            log.warning("metrics refresh failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0])
        await asyncio.sleep(every_s)
