"""Long-running commands as processes: until SIGTERM/SIGINT, then a clean stop and exit code 0."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable


async def until_signalled(main: Callable[[asyncio.Event], Awaitable[None]], grace_s: float) -> int:
    """Run `main(stop)`; SIGTERM/SIGINT set `stop`; cancel it if it has not returned `grace_s` later.

    The grace covers a process still waiting for its services when told to stop (it holds nothing
    then, so cancelling is safe); `main`'s own errors propagate for the CLI to print.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = asyncio.ensure_future(main(stop))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([running, stopping], return_when=asyncio.FIRST_COMPLETED)
    if not running.done():
        await asyncio.wait([running], timeout=grace_s)
        running.cancel()
    stopping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    return 0
