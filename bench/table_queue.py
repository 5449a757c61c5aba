"""TableQueue jobs a second through consume + ack, with a given number of jobs in flight.

Run: .venv/bin/python bench/table_queue.py [--jobs 2000] [--concurrency 16]
Prints one JSON object: jobs, seconds, jobs_per_s, cpu_us_per_job, the setup. Jobs do nothing but
ack, so this is the queue's own cost on a scratch file (migrated, in a temporary folder).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from killreport.queue.broker import Delivery
from killreport.queue.messages import Job, encode
from killreport.queue.table import TableQueue
from killreport.store import migrate
from killreport.store.sqlite.engine import open_engine

QUEUE = "alliance_sync_queue"


async def run(path: Path, jobs: int, concurrency: int) -> dict[str, float]:
    """Publish `jobs`, then consume and ack them `concurrency` at a time; return the timings."""
    await asyncio.to_thread(migrate.upgrade, f"sqlite:///{path}")
    engine = open_engine(f"sqlite:///{path}")
    queue = TableQueue(engine)
    await queue.publish(QUEUE, [encode(Job("alliance", i)) for i in range(1, jobs + 1)])
    slots, running = asyncio.Semaphore(concurrency), set()

    async def ack(delivery: Delivery) -> None:
        try:
            await delivery.ack()
        finally:
            slots.release()

    started, cpu = time.perf_counter(), time.process_time()
    async with queue.consume([QUEUE], prefetch=concurrency) as deliveries:
        for _ in range(jobs):
            await slots.acquire()
            running.add(asyncio.create_task(ack(await anext(deliveries))))
        await asyncio.gather(*running)
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    await engine.dispose()
    return {"seconds": round(seconds, 3), "jobs_per_s": round(jobs / seconds, 1),
            "cpu_us_per_job": round(cpu_s * 1e6 / jobs, 1)}


def main() -> None:
    """Print the queue's throughput as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        result = asyncio.run(run(Path(scratch) / "queue.db", args.jobs, args.concurrency))
    print(json.dumps({"jobs": args.jobs, **result, "concurrency": args.concurrency}))


if __name__ == "__main__":
    main()
