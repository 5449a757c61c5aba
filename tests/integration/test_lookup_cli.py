"""`killreport lookup` and `POST /api/lookup` on PostgreSQL + RabbitMQ with a worker fetching.

The lookup queues what the copy lacks (pending row, then a confirmed message) and waits; the worker
fetches under the shared budget. Unreachable services give one line (command) or a JSON 503 (route).
"""

from __future__ import annotations

import aiohttp
import pytest

from killreport.sim.testing import running_sim
from tests.cluster import NO_BROKER, cli_here, env_for, migrated, web_process, workers
from tests.lookup_checks import NEVER_QUEUED, check_never_queued, check_refusals, ghost, lookup, pilots, post

pytestmark = pytest.mark.timeout(300)


async def test_lookup_with_a_worker_fetches_what_the_copy_lacks(fresh_pg_url: str,
                                                                fresh_rabbit_url: str) -> None:
    # 300 ms a request: an id asked with a 0.1 s wait cannot have been fetched in time.
    async with running_sim(alliances=2, latency_ms=300) as sim:
        env = env_for(await migrated(fresh_pg_url), fresh_rabbit_url, sim.base_url)
        found = pilots(sim)
        (first, first_char), (second, second_char), (third, _), (fourth, fourth_char) = (
            next(found), next(found), next(found), next(found))
        alone = await lookup(env, first, wait=0.2)  # no worker yet: queued, and still pending
        assert (alone["pending"], alone["queued"]) == ([first], 1)

        async with workers(env, 1) as running:
            answer = await lookup(env, second, ghost(sim), first, *NEVER_QUEUED, wait=90)
            shown = answer["by_id"]
            assert shown[second]["status"] == "held", (shown[second], running[0].read_log()[-2000:])
            assert (shown[second]["kind"], shown[second]["name"]) == ("character", second_char.name)
            assert shown[second]["corporation"]["id"] == second_char.corporation_id
            assert (shown[first]["status"], shown[first]["name"]) == ("held", first_char.name)
            assert shown[ghost(sim)]["status"] == "unknown" and answer["unknown"] == [ghost(sim)]
            check_never_queued(answer)
            assert answer["queued"] == 2 and answer["pending"] == []

            late = await lookup(env, third, wait=0.1)
            assert (late["pending"], late["by_id"][third]["status"]) == ([third], "pending")

            async with web_process(env) as base, aiohttp.ClientSession() as session:
                status, body = await post(session, base + "api/lookup", [fourth, 500001])
                assert status == 200, body
                assert [(a["id"], a["status"]) for a in body["ids"]] == [(fourth, "held"),
                                                                         (500001, "faction")]
                assert body["ids"][0]["name"] == fourth_char.name
                await check_refusals(session, base)
        stats = await sim.control.stats()
        assert stats["limit_violations"]["total"] == 0, stats["limit_violations"]


async def test_unreachable_services_are_one_line_or_a_json_503(fresh_pg_url: str,
                                                               fresh_rabbit_url: str) -> None:
    env = env_for(await migrated(fresh_pg_url), fresh_rabbit_url, "http://127.0.0.1:9")
    for override, needle in [({"DATABASE_URL": "postgresql://root:s3cret@127.0.0.1:1/nope"}, "PostgreSQL"),
                             ({"RABBITMQ_URL": NO_BROKER}, "127.0.0.1")]:
        done = await cli_here({**env, **override}, "lookup", "90000001", timeout_s=60)
        lines = [line for line in done.err.splitlines() if line.strip()]
        assert done.code == 1 and len(lines) == 1 and needle in lines[0], done
        assert "s3cret" not in done.err
    async with web_process({**env, "RABBITMQ_URL": NO_BROKER}) as base, aiohttp.ClientSession() as session:
        status, body = await post(session, base + "api/lookup", [90000001])
        assert status == 503 and "job queue is unavailable" in body["error"], body
        status, body = await post(session, base + "api/lookup", [1, 100_000_123])  # nothing to queue
        assert status == 200 and [a["status"] for a in body["ids"]] == ["npc", "ambiguous"], body
