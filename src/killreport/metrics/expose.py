"""A process's exposition: its metrics, its readiness checks and the server, made by the composition root."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from killreport.config import Settings
from killreport.domain.budget import Budget
from killreport.metrics.gauges import refresh_forever, show_shared_budget, show_store
from killreport.metrics.names import Metrics, make_metrics
from killreport.metrics.server import Check, metrics_app, serving
from killreport.queue.broker import QueueAdmin
from killreport.store.interface import Store


@dataclass
class Exposition:
    """The metrics of one process and what /readyz checks; `run` shares one between its parts."""

    metrics: Metrics
    every_s: float
    checks: list[Check] = field(default_factory=list)
    refreshing: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def attach(self, store: Store, mq: QueueAdmin, budget: Budget, *, freshness: bool = False) -> None:
        """Check these services in /readyz and refresh the budget gauges from them (the first part's,
        once), and with `freshness` (a scheduler) the copy's per-kind gauges too."""
        known = {name for name, _ in self.checks}
        for name, check in (("database", lambda: _ping(store)), ("broker", mq.stats),
                            ("budget", budget.snapshot)):
            if name not in known:
                self.checks.append((name, check))
        self._refresh("budget", lambda m: show_shared_budget(m, budget))
        if freshness:
            self._refresh("freshness", lambda m: show_store(m, store))

    def _refresh(self, name: str, read: Callable[[Metrics], Awaitable[None]]) -> None:
        if name not in self.refreshing:
            self.refreshing[name] = asyncio.create_task(refresh_forever(self.metrics, read, self.every_s))

    async def close(self) -> None:
        """Stop refreshing the gauges."""
        for task in self.refreshing.values():
            task.cancel()
        await asyncio.gather(*self.refreshing.values(), return_exceptions=True)


async def _ping(store: Store) -> None:
    async with store.connect() as conn:
        await store.admin.ping(conn)


@asynccontextmanager
async def exposing(settings: Settings, given: Exposition | None = None) -> AsyncIterator[Exposition | None]:
    """`given`, else a new exposition served on METRICS_HOST:METRICS_PORT, else (port 0) None."""
    if given is not None or not settings.metrics_port:
        yield given
        return
    registry = CollectorRegistry()
    made = Exposition(make_metrics(registry), settings.metrics_refresh_s)
    async with serving(metrics_app(registry, made.checks), settings.metrics_host, settings.metrics_port):
        try:
            yield made
        finally:
            await made.close()
