"""`killreport lookup` and `POST /api/lookup` on a SQLite file with `killreport run` beside them.

The lookup never talks to ESI (killreport/lookup.py): on a file it only queues, and the runner's
workers fetch. Without a runner the ids stay queued and the command says so instead of waiting.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from killreport.runner_lock import holder
from killreport.sim.testing import running_sim
from killreport.store.sqlite.engine import path_of
from tests.cluster import cli_here, command, embedded_env, web_process
from tests.lookup_checks import NEVER_QUEUED, check_never_queued, check_refusals, ghost, lookup, pilots, post

pytestmark = pytest.mark.timeout(300)


async def _held(db_url: str, within_s: float = 30.0) -> None:
    for _ in range(int(within_s / 0.1)):
        if holder(path_of(db_url)) is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no runner took {db_url} within {within_s} s")


async def test_lookup_beside_the_runner_fetches_what_the_copy_lacks(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'k.db'}"
    # 300 ms a request: an id asked with a 0.1 s wait cannot have been fetched in time.
    async with running_sim(alliances=2, latency_ms=300) as sim:
        env = embedded_env(db_url, sim.base_url)
        found = pilots(sim)
        (first, first_char), (second, second_char), (third, _), (fourth, fourth_char) = (
            next(found), next(found), next(found), next(found))
        assert (await cli_here(env, "migrate")).code == 0
        alone = await cli_here(env, "lookup", "--wait", "30", str(first))
        assert alone.code == 0 and "no runner holds" in alone.err and "not waiting" in alone.err, alone
        assert f"{first}" in alone.out and "pending" in alone.out and "queued 1" in alone.out, alone.out

        async with command(env, "run") as runner:
            await _held(db_url)
            answer = await lookup(env, second, ghost(sim), first, *NEVER_QUEUED, wait=90)
            shown = answer["by_id"]
            assert shown[second]["status"] == "held", (shown[second], runner.read_log()[-2000:])
            assert (shown[second]["kind"], shown[second]["name"]) == ("character", second_char.name)
            assert shown[second]["corporation"]["id"] == second_char.corporation_id
            assert (shown[first]["status"], shown[first]["name"]) == ("held", first_char.name)
            assert shown[ghost(sim)]["status"] == "unknown" and answer["unknown"] == [ghost(sim)]
            check_never_queued(answer)
            assert answer["queued"] == 2 and answer["pending"] == []  # `first` was queued already

            late = await lookup(env, third, wait=0.1)
            assert (late["pending"], late["by_id"][third]["status"]) == ([third], "pending")

            async with web_process(env) as base, aiohttp.ClientSession() as session:
                status, body = await post(session, base + "api/lookup", {"ids": [fourth, 1], "wait_s": 10})
                assert status == 200, body
                assert [(a["id"], a["status"]) for a in body["ids"]] == [(fourth, "held"), (1, "npc")]
                assert body["ids"][0]["name"] == fourth_char.name
                await check_refusals(session, base)
        assert runner.returncode == 0, runner.log[-3000:]
        stats = await sim.control.stats()
        assert stats["limit_violations"]["total"] == 0, stats["limit_violations"]


async def test_bad_command_lines_exit_2_with_one_line(tmp_path: Path) -> None:
    env = embedded_env(f"sqlite:///{tmp_path / 'k.db'}", "http://127.0.0.1:9")
    for args, needle in [(["abc"], "'abc' is not a numeric id"), ([], "lookup"),
                         ([str(i) for i in range(1, 102)], "at most 100 ids"),
                         (["--wait", "121", "90000001"], "from 0 to 120 s"),
                         (["--wait", "-1", "90000001"], "from 0 to 120 s")]:
        done = await cli_here(env, "lookup", *args)
        lines = [line for line in done.err.splitlines() if line.strip()]
        assert done.code == 2 and len(lines) == 1 and needle in lines[0], (args, done)
