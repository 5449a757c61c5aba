"""Build the aiohttp application and run it: in-process (tests, benchmarks) or until a signal (CLI)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from aiohttp import web

from killreport.sim import control
from killreport.sim.app import handle_esi
from killreport.sim.options import SimOptions
from killreport.sim.state import SIM_KEY, Sim


def build_app(sim: Sim) -> web.Application:
    """The application: control API under /_sim/, every other path to the ESI handler."""
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[SIM_KEY] = sim
    control.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", handle_esi)
    return app


class SimServer:
    """One simulator listening on a TCP port (0 picks a free one)."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.host = "127.0.0.1"

    @property
    def base_url(self) -> str:
        """`http://host:port` of the running server."""
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start listening; returns the base URL."""
        # Hung requests must not hold up shutdown, and access logging would cost a third of the throughput.
        runner = web.AppRunner(build_app(self.sim), access_log=None, shutdown_timeout=0.5,
                               handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=1024)
        await site.start()
        self._runner = runner
        self.host, self.port = host, int(runner.addresses[0][1])
        return self.base_url

    async def stop(self) -> None:
        """Stop listening and end open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def serve_until_signal(options: SimOptions, host: str, port: int,
                             ready: Callable[[str], None] = print) -> None:
    """Run a simulator until SIGINT or SIGTERM."""
    server = SimServer(Sim(options))
    url = await server.start(host, port)
    ready(f"killreport sim: listening on {url} ({options.alliances} alliances, seed {options.seed})")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
