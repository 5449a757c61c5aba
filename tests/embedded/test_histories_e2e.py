"""Histories end to end in the embedded mode: one `killreport run` on a SQLite file against the
simulator, caches a thousand times shorter than ESI's.

With mutations of every kind over several cache periods, every stored character's employment and
every stored corporation's alliance membership equal the simulator's truth, and point-in-time and
joined/left answers equal the truth's rules. Under the simulator's hidden history limit at 300 a
minute, counting both history routes together, the default caps meet none of it; at 60 a minute the
budget finds it (hits counted and few, `status` showing the cut group) and the copy is still complete.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from killreport.store import migrate
from killreport.store.interface import Store
from tests.cluster import command, embedded_env
from tests.histories import (
    ALLIANCE_S,
    BUSY_ALLIANCES,
    BUSY_SLOTS,
    CHARACTER_S,
    MUTATIONS,
    check_answers,
    found_and_completed,
    history_requests,
    simulated,
    statuses,
    until_histories_equal,
)
from tests.stores import as_store, engine_for
from tests.truth import until_equal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _env(db_url: str, esi_url: str) -> dict[str, str]:
    """Refresh as often as the scaled caches allow; the budget's default caps."""
    return embedded_env(db_url, esi_url, REFRESH_MIN_AGE_ALLIANCE=str(ALLIANCE_S),
                        REFRESH_MIN_AGE_CORPORATION=str(ALLIANCE_S),
                        REFRESH_MIN_AGE_CORPORATION_DORMANT=str(ALLIANCE_S),
                        REFRESH_MIN_AGE_CHARACTER=str(CHARACTER_S),
                        REFRESH_MIN_AGE_AFFILIATION=str(ALLIANCE_S), ESI_MAX_INFLIGHT="16",
                        WORKER_CONCURRENCY=BUSY_SLOTS)


@asynccontextmanager
async def _store(db_url: str) -> AsyncIterator[Store]:
    """The file, migrated (the runner then finds it so), as a Store to read the copy through."""
    await asyncio.to_thread(migrate.upgrade, db_url)
    store = as_store(engine_for(db_url), db_url)
    try:
        yield store
    finally:
        await store.close()


async def test_histories_follow_every_kind_of_move_and_answer_as_the_truth(db_url: str) -> None:
    async with simulated(alliances=BUSY_ALLIANCES, history_per_min=300, seed=24) as sim, \
            _store(db_url) as store, command(_env(db_url, sim.base_url), "run") as runner:
        await until_equal(store.engine, sim, within_s=150)
        # About 300 histories at 4 a second: 75 s at the least, and one was seen stored only after 150 s.
        await until_histories_equal(store, sim, within_s=240)
        for _ in range(8):  # several cache periods of every kind of change
            await sim.control.mutate(4, kinds=MUTATIONS)
            await asyncio.sleep(ALLIANCE_S)
        await until_equal(store.engine, sim, within_s=150)
        waited = await until_histories_equal(store, sim, within_s=150)
        compared = await check_answers(store, sim, pairs=1000, seed=24)
        stats = await sim.control.stats()
        log = runner.read_log()
    assert compared >= 2000, compared
    assert history_requests(stats) > 0
    assert stats["hidden_limit"]["total"] == 0, (stats["hidden_limit"], waited)
    assert stats["limit_violations"]["total"] == 0, stats["limit_violations"]
    assert "420" not in statuses(stats), stats["by_route"]
    assert stats["cache_violations"]["total"] == 0, (stats["cache_violations"], log[-3000:])


@pytest.mark.timeout(900)
async def test_a_lower_hidden_limit_is_found_and_the_copy_still_completes(db_url: str) -> None:
    # About 70 histories: more than the limit lets through in the first minute. Once found, the cut
    # group (half its rate after each cut, paused a minute by each) lets the rest through.
    started = time.monotonic()
    async with simulated(alliances=5, history_per_min=60, seed=7) as sim, _store(db_url) as store, \
            command(_env(db_url, sim.base_url), "run"):
        await found_and_completed(embedded_env(db_url, sim.base_url), store, sim, started)
