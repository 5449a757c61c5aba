"""The downtime watcher: while the shared budget says ESI is down, ask GET /status until ESI is back.

Every process that sends requests runs one (`worker`, `scheduler`; `run` has both), so a downtime
never waits for a process that may not be running. The watcher decides nothing: the budget does.
It marks ESI down (from `Rules.downtime_lead_s` before the daily downtime, or on an answer saying
ESI cannot reach the game server), lets only /status through while it is, paces /status fleet-wide
(one at a time, never before the last answer's Expires), and clears the downtime when a /status
answer's settle shows the cluster back. This loop only reads the shared snapshot every
`Rules.watch_s` and, while it says down, sends the /status the budget grants.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import structlog

from killreport.domain import models
from killreport.domain.budget import Budget
from killreport.domain.budget_rules import RULES, Rules
from killreport.domain.cache import Fetched
from killreport.esi.client import NotSent, sending_until
from killreport.esi.errors import EsiError

log = structlog.get_logger("killreport.downtime")


class StatusSource(Protocol):
    """What the watcher asks: EsiClient.status()."""

    async def status(self) -> Fetched[models.Status]:
        """GET /status through the budget."""
        ...


async def watch(budget: Budget, esi: StatusSource, rules: Rules = RULES) -> None:
    """Forever (until cancelled): while the budget says ESI is down, ask /status; else look again later."""
    down = False
    while True:
        try:
            was_down, down = down, (await budget.snapshot()).downtime
            if down and not was_down:
                log.warning("ESI is down: only /status goes out until it shows ESI back")
            if not down and was_down:
                log.warning("ESI is back")
            if down and not await ask(esi, rules):
                continue  # the budget kept /status back past our deadline: look again at once
        except Exception as exc:  # the database blinked: look again after the pause, never give up
            log.warning("downtime watcher failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0])
        await asyncio.sleep(rules.watch_s)


async def ask(esi: StatusSource, rules: Rules = RULES) -> bool:
    """Send one /status if the budget grants it within `watch_s` (False if not: ESI may be back by then)."""
    try:
        with sending_until(time.monotonic() + rules.watch_s):
            status = await esi.status()
    except NotSent:
        return False
    except EsiError as exc:
        log.info("/status: ESI still down", status=exc.status, error=str(exc)[:200])
        return True
    log.info("/status answered", start_time=status.data.start_time, vip=status.data.vip)
    return True
