"""SqliteBudget reserve+settle pairs a second, from several processes and tasks on one SQLite file.

Run: .venv/bin/python bench/budget_sqlite.py [--file PATH] [--seconds 5] [--processes 1] [--tasks 8]
     [--groups 4]
Prints one JSON object: pairs, seconds, pairs_per_s, us_per_pair (wall), cpu_us_per_pair (CPU of the
benchmark processes, which a busy machine inflates less), the persisted state's size, the setup.

Without --file a scratch file in a temporary folder is used (and removed). Each pair's route belongs
to one of `groups` token-bucket groups whose answers report tokens, so the persisted State carries
buckets with their spend logs, as a real run's does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from killreport.budget.sqlite import SqliteBudget
from killreport.domain.budget_rules import Limits
from killreport.domain.observation import Observation
from killreport.esi.classify import observe
from killreport.store.sqlite.engine import open_engine
from killreport.store.sqlite.tables import esi_budget_state, metadata


def _answer(group: int) -> Observation:
    return observe(200, {"x-esi-error-limit-remain": "100", "x-esi-error-limit-reset": "59",
                         "x-ratelimit-group": f"g{group}", "x-ratelimit-limit": "100000/15m",
                         "x-ratelimit-remaining": "99000", "x-ratelimit-used": "2"})


async def pairs(path: Path, seconds: float, tasks: int, groups: int) -> int:
    """Run `tasks` coroutines doing reserve+settle back to back; return how many pairs completed."""
    budget = SqliteBudget(f"sqlite:///{path}", Limits(max_inflight=32, error_floor=10, lease_ttl_s=20))
    deadline = time.monotonic() + seconds

    async def loop(n: int) -> int:
        done = 0
        while time.monotonic() < deadline:
            group = (n + done) % groups
            await budget.settle(await budget.reserve(f"/bench/{group}"), _answer(group))
            done += 1
        return done

    try:
        return sum(await asyncio.gather(*(loop(n) for n in range(tasks))))
    finally:
        await budget.close()


def _child(path: Path, seconds: float, tasks: int, groups: int, out: Any) -> None:
    cpu = time.process_time()  # every thread of the process: the loop's and the budget's
    done = asyncio.run(pairs(path, seconds, tasks, groups))
    out.put((done, time.process_time() - cpu))


async def _schema(path: Path) -> int:
    """Create the tables if absent; return the persisted state's size in bytes (0 if none yet)."""
    engine = open_engine(f"sqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        text = (await conn.execute(select(esi_budget_state.c.state))).scalar_one_or_none()
    await engine.dispose()
    return len(text or "")


def _run(path: Path, args: argparse.Namespace) -> tuple[int, float]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(path, args.seconds, args.tasks, args.groups, out))
             for _ in range(args.processes)]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    return sum(r[0] for r in results), sum(r[1] for r in results)


def main() -> None:
    """Print pairs a second for the given process and task counts, as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--file", type=Path)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--tasks", type=int, default=8, help="concurrent reservers per process")
    parser.add_argument("--groups", type=int, default=4, help="token-bucket groups the routes fall in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = args.file or Path(scratch) / "bench.db"
        asyncio.run(_schema(path))
        total, cpu_s = _run(path, args)
        state_bytes = asyncio.run(_schema(path))
    print(json.dumps({"pairs": total, "seconds": args.seconds,
                      "pairs_per_s": round(total / args.seconds, 1),
                      "us_per_pair": round(args.seconds * 1e6 / max(total, 1), 1),
                      "cpu_us_per_pair": round(cpu_s * 1e6 / max(total, 1), 1),
                      "state_bytes": state_bytes, "processes": args.processes, "tasks": args.tasks,
                      "groups": args.groups}))


if __name__ == "__main__":
    main()
