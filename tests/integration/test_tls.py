"""The real transport verifies TLS: a server with a self-signed certificate is refused, loudly."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from killreport.esi.errors import TransportError
from killreport.esi.transport import aiohttp_transport
from killreport.esi.types import EsiRequest


async def _alliances(_: web.Request) -> web.Response:
    return web.json_response([99000001])


@pytest.fixture
async def self_signed_server(tmp_path: Path) -> AsyncIterator[str]:
    """An HTTPS server on loopback whose certificate nobody vouches for; its base URL."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
               "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
               "-keyout", str(key), "-out", str(cert)]
    await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application()
    app.router.add_get("/alliances", _alliances)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_certificate_nobody_vouches_for_is_refused(self_signed_server: str) -> None:
    request = EsiRequest(method="GET", url=f"{self_signed_server}/alliances", headers={}, body=None,
                         timeout_s=5)
    async with aiohttp_transport(max_connections=2, max_body_bytes=1_000) as transport:
        with pytest.raises(TransportError, match=r"(?i)certificate"):
            await transport(request)
