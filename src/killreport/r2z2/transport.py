"""The narrow interface under the R2Z2 client (one request in, one response out) and its aiohttp form."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from killreport.r2z2.errors import MalformedBody, Timeout, Unreachable


@dataclass(frozen=True, slots=True)
class FeedRequest:
    """A GET to the feed: absolute URL, every header, and the bounds on its answer."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    max_body_bytes: int = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FeedResponse:
    """An HTTP response; header names are lower-case."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    """Sends one request; Unreachable, Timeout or MalformedBody (too large, truncated) if no usable answer."""

    async def __call__(self, request: FeedRequest) -> FeedResponse: ...


class AiohttpTransport:
    """Sends FeedRequests over one aiohttp session, within each request's size and time."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __call__(self, request: FeedRequest) -> FeedResponse:
        """One GET; the failures Transport names when there is no usable answer."""
        try:
            async with asyncio.timeout(request.timeout_s):
                return await self._send(request)
        except TimeoutError:
            raise Timeout(f"no answer within {request.timeout_s:g} s", url=request.url) from None
        except aiohttp.ClientPayloadError as exc:  # the connection ended inside the body
            raise MalformedBody(f"truncated: {str(exc)[:200]}", url=request.url) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise Unreachable(f"{type(exc).__name__}: {str(exc)[:200]}", url=request.url) from None

    async def _send(self, request: FeedRequest) -> FeedResponse:
        async with self._session.get(request.url, headers=dict(request.headers),
                                     allow_redirects=False) as response:
            chunks, size = [], 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > request.max_body_bytes:
                    raise MalformedBody(f"body larger than {request.max_body_bytes} bytes",
                                        url=request.url, status=response.status)
                chunks.append(chunk)
            headers = {k.lower(): v for k, v in response.headers.items()}
            return FeedResponse(response.status, headers, b"".join(chunks))


@asynccontextmanager
async def aiohttp_transport() -> AsyncIterator[AiohttpTransport]:
    """A transport on its own session; TLS always verified (`ssl=True`: there is no switch to turn it off)."""
    connector = aiohttp.TCPConnector(limit=4, ssl=True, ttl_dns_cache=300)
    no_total = aiohttp.ClientTimeout(total=None)  # each request's own timeout bounds it
    async with aiohttp.ClientSession(connector=connector, timeout=no_total) as session:
        yield AiohttpTransport(session)
