"""aiohttp handlers that misbehave as a far server can, for the transports' tests (ESI's and R2Z2's)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serving(routes: Iterable[tuple[str, Handler]]) -> AsyncIterator[str]:
    """A local aiohttp server answering GETs on `routes` for the block; yields its base URL."""
    app = web.Application()
    for path, handler in routes:
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def huge(request: web.Request) -> web.StreamResponse:
    """A 4 MiB body, streamed: past any cap the clients set on a body."""
    response = web.StreamResponse()
    await response.prepare(request)
    for _ in range(64):
        await response.write(b"x" * 65536)
    return response


async def slow(_: web.Request) -> web.Response:
    """An answer a second late: past the tests' total timeouts."""
    await asyncio.sleep(1)
    return web.Response(text="late")
