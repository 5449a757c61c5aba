"""PgBudget reserve+settle pairs a second, from several processes and tasks against one database.

Run: .venv/bin/python bench/budget.py DATABASE_URL [--seconds 5] [--processes 1] [--tasks 8] [--pool-size 4]
Prints one JSON object: pairs, seconds, pairs_per_s, and the setup.

The database must be migrated (`killreport migrate`). Its budget state is disturbed: use a scratch
database, never a live cluster's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import time
from typing import Any

from killreport.budget.pg import PgBudget
from killreport.esi.classify import observe

_OK = observe(200, {"x-esi-error-limit-remain": "100", "x-esi-error-limit-reset": "59"})


async def pairs(database_url: str, seconds: float, tasks: int, pool_size: int) -> int:
    """Run `tasks` coroutines doing reserve+settle back to back; return how many pairs completed."""
    budget = await PgBudget.open(database_url, max_inflight=32, error_floor=10, lease_ttl_s=20,
                                 pool_size=pool_size)
    deadline = time.monotonic() + seconds

    async def loop() -> int:
        done = 0
        while time.monotonic() < deadline:
            await budget.settle(await budget.reserve("/bench/{id}"), _OK)
            done += 1
        return done

    try:
        return sum(await asyncio.gather(*(loop() for _ in range(tasks))))
    finally:
        await budget.close()


def _child(database_url: str, seconds: float, tasks: int, pool_size: int, out: Any) -> None:
    out.put(asyncio.run(pairs(database_url, seconds, tasks, pool_size)))


def main() -> None:
    """Print pairs a second for the given process and task counts, as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database_url")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--tasks", type=int, default=8, help="concurrent reservers per process")
    parser.add_argument("--pool-size", type=int, default=4)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(args.database_url, args.seconds, args.tasks,
                                              args.pool_size, out))
             for _ in range(args.processes)]
    for proc in procs:
        proc.start()
    total = sum(out.get() for _ in procs)
    for proc in procs:
        proc.join()
    print(json.dumps({"pairs": total, "seconds": args.seconds,
                      "pairs_per_s": round(total / args.seconds, 1), "processes": args.processes,
                      "tasks": args.tasks, "pool_size": args.pool_size}))


if __name__ == "__main__":
    main()
