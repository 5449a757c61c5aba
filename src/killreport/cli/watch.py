"""`status --watch`: the status view redrawn in place every second, with rates and a budget gauge."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from rich.console import Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from killreport.cli import render
from killreport.overview import status_data
from killreport.queue.broker import QueueAdmin
from killreport.store.budget_view import BudgetView
from killreport.store.interface import Store

ENTITY_KINDS: Final = ("alliances", "corporations", "characters")
# ESI's error window holds 100 errors; the gauge shows what is left of it.
ERROR_WINDOW: Final = 100


@dataclass(frozen=True, slots=True)
class Sample:
    """The counters rates are computed from, at one moment."""

    at: float
    requests: int
    entities: int


def sample(data: Mapping[str, Any], at: float) -> Sample:
    """Total requests and stored entities in a status snapshot."""
    stored = data["stored"]
    return Sample(at, sum(data["requests"].values()), sum(stored.get(k, 0) for k in ENTITY_KINDS))


def rates(before: Sample | None, now: Sample) -> tuple[float, float]:
    """(requests/s, entities/s) between two samples; zero for the first."""
    if before is None or now.at <= before.at:
        return 0.0, 0.0
    span = now.at - before.at
    return (now.requests - before.requests) / span, (now.entities - before.entities) / span


def view(data: Mapping[str, Any], per_s: tuple[float, float]) -> Group:
    """Rates, the budget gauge, then the usual status tables."""
    head = Table.grid(padding=(0, 2))
    remaining = data["budget"]["error_limit_remaining"]
    gauge = ProgressBar(total=ERROR_WINDOW, completed=remaining or 0, width=30)
    head.add_row("requests/s", f"{per_s[0]:.1f}", "entities/s", f"{per_s[1]:.1f}")
    head.add_row("error limit left", gauge, "-" if remaining is None else str(remaining),
                 f"in flight {data['budget']['in_flight']}")
    return Group(head, *render.status_tables(data))


async def frame(store: Store, admin: QueueAdmin, budget: BudgetView,
                before: Sample | None) -> tuple[Group, Sample]:
    """One redraw: the view of the status now, and the sample the next one's rates start from."""
    data = await status_data(store, admin, budget)
    now = sample(data, time.monotonic())
    return view(data, rates(before, now)), now


async def watch(store: Store, admin: QueueAdmin, budget: BudgetView, every_s: float = 1.0) -> int:
    """Redraw until SIGINT or SIGTERM, then exit 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    before: Sample | None = None
    with Live(auto_refresh=False) as live:
        while not stop.is_set():
            shown, before = await frame(store, admin, budget, before)
            live.update(shown, refresh=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
    return 0
