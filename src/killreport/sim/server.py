"""Build the aiohttp application and run it: in-process (tests, benchmarks) or until a signal (CLI)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from aiohttp import web

from killreport.sim import control
from killreport.sim.app import handle_esi
from killreport.sim.options import SimOptions
from killreport.sim.r2z2 import PREFIX as R2Z2_PREFIX
from killreport.sim.r2z2 import build_r2z2_app
from killreport.sim.state import SIM_KEY, Sim


def build_app(sim: Sim) -> web.Application:
    """The application: control API under /_sim/, every other path to the ESI handler."""
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[SIM_KEY] = sim
    control.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", handle_esi)
    return app


class SimServer:
    """One simulator listening on a TCP port for ESI and another for R2Z2 (0 picks a free one)."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self._runners: list[web.AppRunner] = []
        self.port = 0
        self.r2z2_port = 0
        self.host = "127.0.0.1"

    @property
    def base_url(self) -> str:
        """`http://host:port` of the running server."""
        return f"http://{self.host}:{self.port}"

    @property
    def r2z2_url(self) -> str:
        """`http://host:port/r2z2` of the running feed."""
        return f"http://{self.host}:{self.r2z2_port}{R2Z2_PREFIX}"

    async def start(self, host: str = "127.0.0.1", port: int = 0, r2z2_port: int = 0) -> str:
        """Start listening for ESI on `port` and for R2Z2 on `r2z2_port`; returns ESI's base URL."""
        self.host = host
        self.port = await self._listen(build_app(self.sim), host, port)
        self.r2z2_port = await self._listen(build_r2z2_app(self.sim), host, r2z2_port)
        return self.base_url

    async def _listen(self, app: web.Application, host: str, port: int) -> int:
        # Hung requests must not hold up shutdown, and access logging would cost a third of the throughput.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, host, port, backlog=1024).start()
        return int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening and end open connections."""
        while self._runners:
            await self._runners.pop().cleanup()


async def serve_until_signal(options: SimOptions, host: str, port: int, r2z2_port: int,
                             ready: Callable[[str], None] = print) -> None:
    """Run a simulator until SIGINT or SIGTERM."""
    server = SimServer(Sim(options))
    url = await server.start(host, port, r2z2_port)
    ready(f"killreport sim: listening on {url} ({options.alliances} alliances, seed {options.seed}); "
          f"R2Z2 on {server.r2z2_url}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
