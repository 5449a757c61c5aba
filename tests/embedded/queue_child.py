"""A second process on the queue's file: `python -m tests.embedded.queue_child MODE DB_URL N`.

publish  publish alliance jobs 1..N in batches of 10 (as `sync-all` in another terminal would), then
         print "published"
hold     consume N deliveries without settling them, print "held", then sleep until killed
"""

from __future__ import annotations

import asyncio
import sys

from killreport.queue.messages import Job, encode
from killreport.queue.table import TableQueue
from killreport.store.sqlite.engine import open_engine


async def publish(url: str, n: int) -> None:
    """Publish jobs 1..n in batches, pausing a little between them."""
    engine = open_engine(url)
    queue = TableQueue(engine)
    for start in range(1, n + 1, 10):
        await queue.publish("alliance_sync_queue",
                            [encode(Job("alliance", i)) for i in range(start, min(start + 10, n + 1))])
        await asyncio.sleep(0.005)
    await engine.dispose()
    print("published", flush=True)


async def hold(url: str, n: int) -> None:
    """Take n deliveries and never settle them."""
    queue = TableQueue(open_engine(url), poll_s=0.05)
    async with queue.consume(["alliance_sync_queue"], prefetch=n) as deliveries:
        for _ in range(n):
            await anext(deliveries)
        print("held", flush=True)
        await asyncio.sleep(3600)


if __name__ == "__main__":
    mode, url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    asyncio.run(publish(url, count) if mode == "publish" else hold(url, count))
