"""`killreport worker KIND...`: a long-running worker process."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from killreport.cli.errors import UsageError
from killreport.ids import parse_kinds
from killreport.wiring import load_settings
from killreport.worker.main import run


async def worker(*kinds: str, concurrency: int | None = None,
                 shutdown_timeout: float | None = None) -> int:
    """Take jobs of the given kinds (alliance, corporation, character, all) until SIGTERM/SIGINT."""
    try:
        chosen = parse_kinds(kinds)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if concurrency is not None and concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if shutdown_timeout is not None and shutdown_timeout <= 0:
        raise UsageError("--shutdown-timeout must be more than 0")
    settings = load_settings()
    overrides = {"worker_concurrency": concurrency, "shutdown_timeout_s": shutdown_timeout}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    consuming = asyncio.Event()
    running = asyncio.create_task(run(settings, chosen, stop, consuming))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([running, stopping], return_when=asyncio.FIRST_COMPLETED)
    if not consuming.is_set() and not running.done():
        # Stopped while still waiting for its services: nothing is held, so just give up waiting.
        running.cancel()
    stopping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    return 0
