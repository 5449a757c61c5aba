"""Long-running commands as processes: until SIGTERM/SIGINT, then a clean stop and exit code 0."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable


async def until_signalled(main: Callable[[asyncio.Event, asyncio.Event], Awaitable[None]],
                          grace_s: float) -> int:
    """Run `main(stop, ready)`; SIGTERM/SIGINT set `stop`; returns 0 once it has returned.

    Until `main` sets `ready` it is only waiting for its services and holds nothing, so a signal
    cancels it at once; after that it gets `grace_s` to stop by itself before it is cancelled.
    `main`'s own errors propagate for the CLI to print.
    """
    stop, ready = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = asyncio.ensure_future(main(stop, ready))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([running, stopping], return_when=asyncio.FIRST_COMPLETED)
    if not running.done():
        if ready.is_set():
            await asyncio.wait([running], timeout=grace_s)
        running.cancel()
    stopping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    return 0
