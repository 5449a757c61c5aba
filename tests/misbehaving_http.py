"""aiohttp handlers that misbehave as a far server can, for the transports' tests (ESI's and R2Z2's)."""

from __future__ import annotations

import asyncio

from aiohttp import web


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
