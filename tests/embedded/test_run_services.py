"""`killreport run` opens one set of services for its scheduler and its workers: one database, one
broker, one ESI client and one budget, so its two parts obey one budget in memory, not two budgets
agreeing through the SQLite file."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from killreport.config import Settings
from killreport.scheduler.standalone import run_all
from killreport.services import HELD
from killreport.sim.testing import running_sim

ONE_OF_EACH = Counter({"database": 1, "broker": 1, "budget": 1, "esi": 1})


async def test_run_holds_one_database_broker_esi_client_and_budget(tmp_path: Path) -> None:
    async with running_sim(alliances=3, latency_ms=1) as sim:
        # The kill feed's follower too: it shares the store and the broker, and holds nothing more.
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'run.db'}", esi_base_url=sim.base_url,
                            esi_contact="tests@killreport.invalid", esi_daily_downtime=False,
                            r2z2_url=sim.r2z2_url, killmail_feed=True, _env_file=None)
        before = +HELD
        stop, ready = asyncio.Event(), asyncio.Event()
        running = asyncio.create_task(run_all(settings, stop, ready))
        try:
            await asyncio.wait_for(ready.wait(), 60)
            # Both parts are connected, and hold one of each between them.
            assert before + ONE_OF_EACH == +HELD, HELD
        finally:
            stop.set()
            await asyncio.wait_for(running, 60)
        assert before == +HELD  # all given back
