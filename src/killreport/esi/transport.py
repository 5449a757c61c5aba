"""The real Transport: one aiohttp session, TLS verified, bounded body size and total time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from killreport.esi.classify import parse_http_date
from killreport.esi.errors import MalformedResponse, TransportError
from killreport.esi.types import EsiRequest, EsiResponse


class AiohttpTransport:
    """Sends EsiRequests over a pooled aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, max_body_bytes: int) -> None:
        self._session = session
        self._max_body = max_body_bytes

    async def __call__(self, request: EsiRequest) -> EsiResponse:
        """One request; TransportError when there is no complete HTTP answer in time."""
        try:
            async with asyncio.timeout(request.timeout_s):
                return await self._send(request)
        except TimeoutError:
            raise TransportError(f"no answer within {request.timeout_s:g} s",
                                 path=request.url) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"{type(exc).__name__}: {str(exc)[:200]}", path=request.url) from None

    async def _send(self, request: EsiRequest) -> EsiResponse:
        async with self._session.request(request.method, request.url, headers=dict(request.headers),
                                         data=request.body, allow_redirects=False) as response:
            chunks, size = [], 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > self._max_body:
                    # An answer came, with its Expires: the caller must not ask again before it.
                    raise MalformedResponse(f"body larger than {self._max_body} bytes",
                                            status=response.status, path=request.url,
                                            expires_at=parse_http_date(response.headers.get("Expires")))
                chunks.append(chunk)
            body = b"".join(chunks)
            headers = {k.lower(): v for k, v in response.headers.items()}
            return EsiResponse(status=response.status, headers=headers, body=body)


@asynccontextmanager
async def aiohttp_transport(max_connections: int, max_body_bytes: int) -> AsyncIterator[AiohttpTransport]:
    """A transport whose connection pool fits the cluster's in-flight cap; TLS is always verified.

    `ssl=True` means the default context: certificate and host name checked. There is deliberately
    no switch to turn that off.
    """
    connector = aiohttp.TCPConnector(limit=max_connections, ssl=True, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=True,
                                     timeout=aiohttp.ClientTimeout(total=None)) as session:
        yield AiohttpTransport(session, max_body_bytes)
