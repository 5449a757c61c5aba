"""Serving an application until asked to stop, on the address it was given and no other."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from killreport.services import ServiceUnavailable


def url_of(host: str, port: int) -> str:
    """The base URL of a listening address (IPv6 in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


async def serve(app: web.Application, host: str, port: int, stop: asyncio.Event,
                ready: Callable[[str], None]) -> None:
    """Listen on host:port (0: any free port), call `ready(url)`, and serve until `stop` is set."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ServiceUnavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        bound = runner.addresses[0][1] if runner.addresses else port
        ready(url_of(host, bound))
        await stop.wait()
    finally:
        await runner.cleanup()
