"""The embedded mode as a newcomer runs it: one SQLite file, no PostgreSQL, no RabbitMQ, real processes.

RABBITMQ_URL points at a closed port in every test here: a process that reached for a broker would
fail. scripts/test runs this folder in a network namespace where PostgreSQL and RabbitMQ are
unreachable as well.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.runner_lock import holder
from killreport.sim.testing import RunningSim, running_sim
from killreport.store.sqlite.engine import path_of
from tests.cluster import cli, command, embedded_env
from tests.truth import diff_against_truth, until_equal
from tests.witness import CacheWitness

pytestmark = pytest.mark.timeout(300)


async def _held(db_url: str, within_s: float = 30.0) -> None:
    """Wait until a runner holds the file (a process needs a moment to start and take the lock)."""
    for _ in range(int(within_s / 0.1)):
        if holder(path_of(db_url)) is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no runner took {db_url} within {within_s} s")


async def _clean(sim: RunningSim) -> dict[str, Any]:
    stats = await sim.control.stats()
    assert stats["limit_violations"]["total"] == 0, stats["limit_violations"]
    assert stats["cache_violations"]["total"] == 0, stats["cache_violations"]
    return stats


def _summary_counts(out: str) -> dict[str, int]:
    """The `ESI <status>` rows of sync-all's summary table."""
    return {code: int(n) for code, n in re.findall(r"ESI (\d{3})\s*\S\s*(\d+)", out)}


async def test_sync_all_wait_alone_does_the_whole_job_and_a_second_run_requests_nothing(
        db_url: str, engine: AsyncEngine) -> None:
    async with running_sim(alliances=40, latency_ms=5, jitter_ms=5) as sim:
        env = embedded_env(db_url, sim.base_url)
        done = await cli(env, "sync-all", "--wait", timeout_s=240)
        assert done.code == 0, done.err[-3000:]
        assert "this process works them" in done.err
        # The progress lines show the runner's budget (as it wrote it, within half a second).
        assert re.search(r"ESI errors left \d+", done.err), done.err
        assert "stored alliances" in done.out
        assert await diff_against_truth(engine, await sim.control.truth()) == []
        first = await _clean(sim)
        served: Counter[str] = Counter()
        for by_status in first["by_route"].values():
            served.update(by_status)
        assert _summary_counts(done.out) == dict(served), "the summary counts every request, the list's too"

        again = await cli(env, "sync-all", "--wait", timeout_s=120)
        assert again.code == 0, again.err[-3000:]
        assert (await _clean(sim))["requests"] == first["requests"], "a fresh entity was requested again"


async def test_commands_share_the_file_with_a_running_runner(db_url: str, engine: AsyncEngine) -> None:
    async with running_sim(alliances=30, latency_ms=5, jitter_ms=5) as sim:
        env = embedded_env(db_url, sim.base_url)
        async with command(env, "run") as runner:
            await _held(db_url)
            done = await cli(env, "sync-all", "--wait", timeout_s=240)
            assert done.code == 0, done.err[-3000:] + runner.read_log()[-3000:]
            assert "the runner works them" in done.err
            assert await diff_against_truth(engine, await sim.control.truth()) == []

            status = await cli(env, "status", "--json")
            assert status.code == 0, status.err
            shown = json.loads(status.out)
            assert shown["stored"]["alliances"] == 30
            assert {q["name"] for q in shown["queues"]} >= {"alliance_sync_queue",
                                                             "killreport_dead_letter_queue"}
            # sync-alliances beside the runner sends nothing itself: the list is fresh, else the runner asked
            admin = (("sync-alliances",), ("sync-corporations",), ("queue", "alliance", "99000001"),
                     ("dlq", "list"), ("purge", "--yes"), ("migrate",))
            for args in admin:
                ran = await cli(env, *args)
                assert ran.code == 0, (args, ran.err)

            refused = await cli(env, "worker", "all", timeout_s=30)
            assert refused.code == 1
            line = refused.err.strip().splitlines()[-1]
            assert "killreport run" in line and "PostgreSQL + RabbitMQ" in line, refused.err
            second = await cli(env, "run", timeout_s=30)
            assert second.code == 1 and "killreport run" in second.err
        assert runner.returncode == 0, runner.log[-3000:]  # SIGTERM: drained, exit 0
        await _clean(sim)


async def test_sync_alliances_beside_a_worker_has_the_worker_fetch_the_list(
        db_url: str, engine: AsyncEngine) -> None:
    # `worker` runs no scheduler: the list is fetched only because the command asked for it.
    async with running_sim(alliances=20, latency_ms=5, jitter_ms=5) as sim:
        env = embedded_env(db_url, sim.base_url)
        async with command(env, "worker", "all") as runner:
            await _held(db_url)
            done = await cli(env, "sync-alliances", timeout_s=60)
            assert done.code == 0, done.err[-3000:] + runner.read_log()[-3000:]
            assert "queued 20 alliance job(s)" in done.out
            await until_equal(engine, sim, within_s=120)
        stats = await _clean(sim)
        assert stats["by_route"]["GET /alliances"] == {"200": 1}, stats["by_route"]


async def test_runner_killed_at_random_moments_then_restarted_ends_equal_to_the_truth(
        db_url: str, engine: AsyncEngine) -> None:
    chance, kills = random.Random(20261130), []
    async with running_sim(alliances=60, latency_ms=20, jitter_ms=10) as sim:
        witness = CacheWitness(sim)
        env = embedded_env(db_url, sim.base_url, WORKER_CONCURRENCY="16")
        for _ in range(3):
            async with command(env, "run") as runner:
                await _held(db_url)
                await asyncio.sleep(chance.uniform(0.5, 3.0))
                kills.append(time.time())
                runner.proc.send_signal(signal.SIGKILL)
                await runner.proc.wait()
        async with command(env, "run") as runner:  # the lock file is still there: it blocks nothing
            # 64 s alone; the killed runners' claims free themselves after CLAIM_TTL_S (60 s), and a
            # full suite's other processes on two cores once made it more than 180 s (histories'
            # jobs, waiting for their route's cap, share the workers' slots).
            await until_equal(engine, sim, within_s=300)
        assert runner.returncode == 0, runner.log[-3000:]
        stats = await sim.control.stats()
        assert stats["limit_violations"]["total"] == 0
        # Every cache violation is one the kills made unavoidable (tests/witness.py), none other.
        assert stats["cache_violations"]["total"] == len(witness.early)
        assert witness.unexplained(kills, within_s=0.5) == [], (kills, witness.early)


@pytest.mark.parametrize("make,needle", [
    (lambda d: (d / "a-file").write_text("x") and d / "a-file" / "k.db", "File exists"),
    (lambda d: (d / "garbage.db").write_text("not sqlite") and d / "garbage.db",
     "cannot be opened: file is not a database"),
])
async def test_a_file_that_cannot_be_a_database_is_one_line_and_exit_1(
        tmp_path: Path, make: Callable[[Path], Path], needle: str) -> None:
    env = embedded_env(f"sqlite:///{make(tmp_path)}", "http://127.0.0.1:1")
    for args in (("status",), ("sync-all", "--wait"), ("run",)):
        done = await cli(env, *args, timeout_s=60)
        assert done.code == 1, (args, done)
        assert done.err.count("\n") == 1 and needle in done.err, (args, done.err)
