"""`killreport web`: the read-only site and JSON API, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal

from killreport.cli.errors import UsageError
from killreport.services import database
from killreport.wiring import budget_view, load_settings, reading_broker

# A few pages at a time need a connection each; the workers need the rest of PostgreSQL's.
POOL_SIZE = 5


def _ready(url: str) -> None:
    print(f"killreport web: serving on {url}", flush=True)


async def web(*, host: str = "127.0.0.1", port: int = 8080) -> int:
    """Serve read-only pages and a JSON API over the copy and the system (loopback only without WEB_TOKEN)."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535, got {port}")
    # Imported here: the site (~110 ms of imports) is no part of any other command's start.
    from killreport.web import BrokerLink, build_app, check_bind, serve

    settings = load_settings()
    token = settings.web_token.get_secret_value()
    check_bind(host, token)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with database(settings, wait=False, pool_size=POOL_SIZE) as store:
        link = BrokerLink(lambda: reading_broker(settings, store))
        try:
            site = build_app(store, link, budget_view(settings), token=token or None,
                             images=settings.web_images)
            await serve(site, host, port, stop, _ready)
        finally:
            await link.close()
    return 0
