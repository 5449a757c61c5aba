"""Workers killed or stopped mid-sync lose nothing: the database still equals the simulator's truth."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
import time

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from killreport.config import sqlalchemy_url
from killreport.sim.testing import RunningSim, running_sim
from tests.cluster import Done, cli, env_for, migrated, workers
from tests.private_pg import PrivatePostgres
from tests.private_rabbit import PrivateRabbit
from tests.truth import diff_against_truth
from tests.witness import CacheWitness

pytestmark = pytest.mark.timeout(300)


async def spawn_worker(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "killreport", "worker", "all", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def test_workers_killed_with_sigkill_at_random_moments_lose_nothing(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    rng = random.Random(7)
    async with running_sim(alliances=60, latency_ms=20, jitter_ms=10) as sim:
        witness = CacheWitness(sim)
        # A short claim, so the killed workers' claims run out within the test; not much shorter:
        # the claim is all the time an answer has to come back and be stored.
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, CLAIM_TTL_S="6")
        procs = [await spawn_worker(env), await spawn_worker(env)]
        syncing = asyncio.create_task(cli(env, "sync-all", "--wait", timeout_s=240))
        kills: list[float] = []
        try:
            # Mid-sync: started workers and a started sync-all take a while on a loaded machine.
            await _until_busy(sim, syncing, requests=100)
            for _ in range(4):
                await asyncio.sleep(rng.uniform(0.2, 1.0))
                victim = procs.pop(rng.randrange(len(procs)))
                kills.append(time.time())
                victim.send_signal(signal.SIGKILL)
                await victim.wait()
                procs.append(await spawn_worker(env))
            done = await syncing
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            await asyncio.gather(*(p.wait() for p in procs))
        assert done.code == 0, done.err[-2000:]
        assert await diff_against_truth(engine, await sim.control.truth()) == []
        stats = await sim.control.stats()
        assert stats["limit_violations"]["total"] == 0
        # Every cache violation is one the kills made unavoidable (see CacheWitness), none other.
        assert stats["cache_violations"]["total"] == len(witness.early)
        assert witness.unexplained(kills, within_s=0.5) == [], (kills, witness.early)


async def test_sigterm_drains_a_busy_worker_within_the_timeout_and_exits_0(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    async with running_sim(alliances=40, latency_ms=400, jitter_ms=100) as sim:
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, SHUTDOWN_TIMEOUT_S="5")
        busy = await spawn_worker(env)
        queued = await cli(env, "sync-all")
        assert queued.code == 0, queued.err
        await asyncio.sleep(3)  # mid-cascade: jobs are waiting on the slow simulator
        assert (await sim.control.stats())["in_flight"] > 0, "the worker was not busy"
        stopped_at = time.monotonic()
        busy.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(busy.wait(), 20)
        assert code == 0
        assert time.monotonic() - stopped_at < 5 + 5, "drain exceeded its timeout by too much"
        async with workers(env, 1):
            done = await cli(env, "sync-all", "--wait", timeout_s=240)
        assert done.code == 0, done.err[-2000:]
        assert await diff_against_truth(engine, await sim.control.truth()) == []
        assert (await sim.control.stats())["cache_violations"]["total"] == 0


async def test_a_worker_started_before_its_services_waits_for_them(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    async with running_sim(alliances=5) as sim:
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, LOG_LEVEL="INFO")
        broken = {**env, "RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:1/"}
        async with workers(broken, 1) as [proc]:
            await proc.until_logged("retry", times=2)  # a second attempt: it waits, it did not give up
            assert proc.returncode is None, "the worker gave up instead of waiting"
        assert proc.returncode == 0, proc.log[-2000:]
        assert "guest:guest@" not in proc.log


async def test_dead_letters_list_replay_and_store_once_the_fault_is_gone(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    # Caches a second long: a broken answer's Expires is honoured before each try (issue 9).
    async with running_sim(alliances=10, cache_scale=0.0001) as sim:
        truth = await sim.control.truth()
        victim, other = sorted(truth["corporations"])[:2]
        # HTML error pages with status 200, until cleared: malformed, so transient, then dead.
        for corp in (victim, other):
            await sim.control.override(f"/corporations/{corp}", mode="html_200")
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, MAX_ATTEMPTS="2",
                      RETRY_DELAYS_S="[1]")
        async with workers(env, 1):
            done = await cli(env, "sync-all", "--wait", timeout_s=120)
            assert done.code == 0, done.err[-2000:]
            listed = await cli(env, "dlq", "list", "--json")
            assert listed.code == 0 and f'"id": {victim}' in listed.out, listed
            assert f'"id": {other}' in listed.out
            assert "transient failures exhausted" in listed.out and "JSON" in listed.out
            problems = await diff_against_truth(engine, truth)
            assert f"corporations {victim}: missing" in problems
            assert f"corporations {other}: missing" in problems

            await sim.control.clear_overrides()
            # A dead letter does not keep its last broken answer's Expires: wait it out, as an
            # operator replaying after a fault is gone would.
            await asyncio.sleep(max(sim.sim.handed_out.values()) - time.time())
            replayed = await cli(env, "dlq", "replay", "--kind", "corporation", "--limit", "1")
            assert replayed.code == 0 and "1 dead letter(s) replayed" in replayed.out, replayed
            refused = await cli(env, "dlq", "purge")
            assert refused.code == 2 and "--yes" in refused.err
            purged = await cli(env, "dlq", "purge", "--yes")
            assert purged.code == 0 and "1 dead letter(s) dropped" in purged.out, purged
            for _ in range(100):
                problems = await diff_against_truth(engine, truth)
                if not any("corporations" in p for p in problems):
                    break
                await asyncio.sleep(0.2)
            missing = [p for p in problems if p.startswith("corporations")]
            assert len(missing) == 1, "exactly one dead letter was replayed and stored"
            empty = await cli(env, "dlq", "list", "--json")
            assert '"dead_letters": []' in empty.out
            assert (await sim.control.stats())["cache_violations"]["total"] == 0


async def test_esi_misbehaving_errors_hangs_and_downtime_still_complete_without_a_420(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    # A 10 s error window instead of 60 s keeps the test short; the mechanics are the same.
    async with running_sim(alliances=25, latency_ms=10, error_rate=0.2, hang_rate=0.02, hang_s=4,
                           error_window_s=10) as sim:
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, ESI_TIMEOUT_S="2",
                      RETRY_DELAYS_S="[1, 2, 4, 8]", MAX_ATTEMPTS="15")
        async with workers(env, 2):
            syncing = asyncio.create_task(cli(env, "sync-all", "--wait", timeout_s=280))
            await asyncio.sleep(2)
            await sim.control.downtime(30)
            done = await syncing
        assert done.code == 0, done.err[-2000:]
        stats = await sim.control.stats()
        assert stats["limit_violations"]["420"] == 0
        # Hung requests end in a 504 with no Expires; an alliance answer that arrived is kept.
        assert stats["cache_violations"]["total"] == 0, stats["cache_violations"]
        statuses = {code for route in stats["by_route"].values() for code in route}
        assert {"503", "504"} <= statuses, statuses
        assert await diff_against_truth(engine, await sim.control.truth()) == []


async def test_postgresql_restarted_mid_sync_loses_nothing(fresh_rabbit_url: str) -> None:
    pg = PrivatePostgres()
    pg.init()
    pg.start()
    try:
        await migrated(pg.url)
        eng = create_async_engine(sqlalchemy_url(pg.url))
        async with running_sim(alliances=60, latency_ms=20, jitter_ms=10) as sim:
            env = env_for(pg.url, fresh_rabbit_url, sim.base_url, CLAIM_TTL_S="5")
            async with workers(env, 2):
                syncing = asyncio.create_task(cli(env, "sync-all", "--wait", timeout_s=240))
                # Not a fixed sleep: on a loaded machine the command may not have connected yet,
                # and an outage before it starts is the CLI's fail-fast case, not this one.
                await _until_busy(sim, syncing, requests=100)
                await asyncio.to_thread(pg.stop)
                await asyncio.sleep(3)
                await asyncio.to_thread(pg.start)
                done = await syncing
            assert done.code == 0, done.err[-2000:]
            assert await diff_against_truth(eng, await sim.control.truth()) == []
            stats = await sim.control.stats()
            assert stats["limit_violations"]["total"] == 0
            # Answers that arrived while the database was down were kept and stored once it was back.
            assert stats["cache_violations"]["total"] == 0, stats["cache_violations"]
        await eng.dispose()
    finally:
        await asyncio.to_thread(pg.destroy)


async def test_rabbitmq_restarted_mid_sync_with_retries_waiting_loses_nothing(
        engine: AsyncEngine, fresh_pg_url: str) -> None:
    rabbit = PrivateRabbit()
    await asyncio.to_thread(rabbit.start)
    try:
        # Few errors: enough that jobs sit in the retry queues when the broker stops, few enough
        # that ESI's error limit (100 a minute) does not become what the test waits for.
        async with running_sim(alliances=20, latency_ms=20, error_rate=0.05) as sim:
            # The default claim (60 s): no worker dies here, so no claim has to run out.
            env = env_for(fresh_pg_url, rabbit.url, sim.base_url, RETRY_DELAYS_S="[4, 8]",
                          MAX_ATTEMPTS="20")
            async with workers(env, 2):
                syncing = asyncio.create_task(cli(env, "sync-all", "--wait", timeout_s=280))
                assert await _retries_waiting(env) > 0, "no job was waiting in a retry queue"
                await asyncio.to_thread(rabbit.stop)
                await asyncio.sleep(3)
                await asyncio.to_thread(rabbit.start)
                done = await syncing
            assert done.code == 0, done.err[-2000:]
            assert await diff_against_truth(engine, await sim.control.truth()) == []
            stats = await sim.control.stats()
            assert stats["limit_violations"]["total"] == 0
            assert stats["cache_violations"]["total"] == 0, stats["cache_violations"]
    finally:
        await asyncio.to_thread(rabbit.destroy)


async def _retries_waiting(env: dict[str, str], within_s: float = 20.0) -> int:
    """Poll `status --json` until some retry queue holds messages; how many it held."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        status = await cli(env, "status", "--json")
        assert status.code == 0, status.err
        waiting = sum(q["ready"] for q in json.loads(status.out)["queues"] if ".retry." in q["name"])
        if waiting:
            return int(waiting)
        await asyncio.sleep(0.5)
    return 0


async def _until_busy(sim: RunningSim, syncing: asyncio.Task[Done], requests: int) -> None:
    """Wait until workers have made `requests` ESI requests: sync-all is past its start and enqueue."""
    while (await sim.control.stats())["requests"] < requests:
        assert not syncing.done(), (await syncing).err[-2000:]
        await asyncio.sleep(0.05)
