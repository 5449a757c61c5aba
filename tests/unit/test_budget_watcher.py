"""The downtime watcher (src/killreport/downtime.py) over a MemoryBudget: it asks /status only while
the budget says ESI is down, the budget's settle brings ESI back, and nothing stops it."""

from __future__ import annotations

import asyncio
from typing import Any

from killreport.budget.memory import MemoryBudget
from killreport.domain import models
from killreport.domain.budget import DOWNTIME
from killreport.domain.budget_rules import RULES, Rules
from killreport.domain.cache import Fetched
from killreport.domain.observation import Observation
from killreport.downtime import ask, watch
from killreport.esi.classify import observe
from killreport.esi.client import NotSent
from killreport.esi.errors import ServerError
from tests.unit.test_budget_downtime import ELEVEN, LIMITS, UNAVAILABLE, iso, status_answer


class FakeStatus:
    """EsiClient.status() over a MemoryBudget: each call reserves, answers from a script, settles."""

    def __init__(self, budget: MemoryBudget, script: list[Observation]) -> None:
        self.budget, self.script, self.asked = budget, script, 0

    async def status(self) -> Fetched[models.Status]:
        lease = await self.budget.reserve("/status")
        self.asked += 1
        answer = self.script.pop(0) if self.script else status_answer(ELEVEN + 400)
        await self.budget.settle(lease, answer)
        if answer.status != 200:
            raise ServerError("Bad gateway", status=answer.status)
        return Fetched(models.Status(players=1, server_version="1", start_time=iso(ELEVEN)), None, None, None)


async def test_the_snapshot_says_downtime_and_the_watcher_asks_status_until_esi_is_back() -> None:
    clock = [ELEVEN + 5 * 3600]
    fast = Rules(watch_s=0.01, status_poll_s=0.0, poll_s=0.01)
    budget = MemoryBudget(LIMITS, clock=lambda: clock[0], rules=fast)
    lease = await budget.reserve("/x")
    await budget.settle(lease, observe(503, {"x-esi-error-limit-remain": "99",
                                             "x-esi-error-limit-reset": "60"}, UNAVAILABLE))
    snap = await budget.snapshot()
    assert snap.downtime and snap.pause_reason == DOWNTIME
    esi = FakeStatus(budget, [observe(502, {}, b"{}"), status_answer(ELEVEN, vip=True)])
    waiting = asyncio.create_task(budget.reserve("/x"))
    watcher = asyncio.create_task(watch(budget, esi, fast))
    try:
        await asyncio.wait_for(waiting, 2.0)
        assert esi.asked == 3  # down, staff only, back
        await asyncio.sleep(0.1)
        assert esi.asked == 3, "the watcher asked /status while ESI was up"
        assert not (await budget.snapshot()).downtime
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def test_the_watcher_does_not_send_a_status_the_budget_held_back_past_its_deadline() -> None:
    class Late:
        async def status(self) -> Fetched[models.Status]:
            raise NotSent("not sent")

    assert await ask(Late(), RULES) is False


async def test_the_watcher_survives_a_failing_budget() -> None:
    class Broken:
        calls = 0

        async def snapshot(self) -> Any:
            Broken.calls += 1
            raise OSError("database gone")

    watcher = asyncio.create_task(watch(Broken(), FakeStatus(MemoryBudget(LIMITS), []),  # type: ignore[arg-type]
                                        Rules(watch_s=0.01)))
    await asyncio.sleep(0.1)
    assert not watcher.done() and Broken.calls > 2
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
