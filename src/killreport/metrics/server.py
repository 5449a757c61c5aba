"""The metrics server: /metrics (Prometheus text), /healthz (alive) and /readyz (services reachable)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

# A named check: raises (any exception) when its service cannot be reached.
Check = tuple[str, Callable[[], Awaitable[object]]]
_CHECK_TIMEOUT_S: Final = 3.0
_REGISTRY: Final = web.AppKey("registry", CollectorRegistry)
_CHECKS: Final = web.AppKey("checks", list[Check])


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[_REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def failures(checks: list[Check]) -> list[str]:
    """Why each failing check fails (empty: all pass; no checks yet: not connected)."""
    if not checks:
        return ["not connected yet"]
    reasons = []
    for name, check in checks:
        try:
            await asyncio.wait_for(check(), _CHECK_TIMEOUT_S)
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
            reasons.append(f"{name}: {text}")
    return reasons


async def _readyz(request: web.Request) -> web.Response:
    reasons = await failures(request.app[_CHECKS])
    if reasons:
        return web.Response(status=503, text="\n".join(reasons) + "\n")
    return web.Response(text="ready\n")


def metrics_app(registry: CollectorRegistry, checks: list[Check]) -> web.Application:
    """The app; `checks` may grow after it starts (parts register theirs once connected)."""
    app = web.Application()
    app[_REGISTRY], app[_CHECKS] = registry, checks
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    return app


@asynccontextmanager
async def serving(app: web.Application, host: str, port: int) -> AsyncIterator[int]:
    """Serve `app` on host:port (0: any free port) until exit; yields the bound port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()
