"""The status page's view of RabbitMQ: one connection opened on first use, never a failed page.

The broker is optional to the web: when it cannot be reached the page still shows everything the
database knows and says why the queues are missing. A failed connect is not retried for a few
seconds, so a page polled every two seconds never waits on a dead broker each time. Dead letters
are peeked (taken and returned) at most every `letters_ttl_s`: a peek moves every letter it reads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final

import structlog

from killreport.queue.broker import Broker, BrokerUnavailable, DeadLetter, JobQueue, QueueStats

log = structlog.get_logger("killreport.web")

Connect = Callable[[], Awaitable[Broker]]
RETRY_AFTER_S: Final = 5.0
TIMEOUT_S: Final = 3.0
LETTERS_TTL_S: Final = 15.0


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


class BrokerLink:
    """Queue stats and dead letters for the status page, or why they cannot be had right now."""

    def __init__(self, connect: Connect, *, retry_after_s: float = RETRY_AFTER_S,
                 timeout_s: float = TIMEOUT_S, letters_ttl_s: float = LETTERS_TTL_S) -> None:
        self._connect = connect
        self._retry_after_s = retry_after_s
        self._timeout_s = timeout_s
        self._letters_ttl_s = letters_ttl_s
        self._broker: Broker | None = None
        self._failed_at = -float("inf")
        self._error: str | None = None
        self._lock = asyncio.Lock()
        self._letters: tuple[float, int, list[DeadLetter]] | None = None

    async def _get(self) -> Broker:
        async with self._lock:
            if self._broker is not None:
                return self._broker
            if time.monotonic() - self._failed_at < self._retry_after_s:
                raise ConnectionError(self._error or "unreachable")
            try:
                async with asyncio.timeout(self._timeout_s):
                    self._broker = await self._connect()
            except Exception as exc:
                self._failed_at, self._error = time.monotonic(), _reason(exc)
                raise ConnectionError(self._error) from None
            return self._broker

    async def queue(self) -> JobQueue:
        """The broker to publish jobs on (POST /api/lookup); ConnectionError while it is unreachable."""
        return await self._get()

    async def stats(self) -> tuple[list[QueueStats], str | None]:
        """Every queue's ready messages and consumers, or no queues and what went wrong."""
        try:
            broker = await self._get()
            async with asyncio.timeout(self._timeout_s):
                return await broker.stats(), None
        except (ConnectionError, BrokerUnavailable, TimeoutError) as exc:
            return [], f"unreachable: {_reason(exc)}"
        except Exception as exc:  # any other broker trouble only blanks the queues, never the page
            return [], f"queues unavailable: {_reason(exc)}"

    async def dead_letters(self, limit: int, waiting: int) -> list[DeadLetter]:
        """Up to `limit` dead letters, peeked again only after a while or when `waiting` changed."""
        now = time.monotonic()
        cached = self._letters
        if cached is not None and cached[1] == waiting and now - cached[0] < self._letters_ttl_s:
            return cached[2]
        letters: list[DeadLetter] = []
        if waiting:
            try:
                broker = await self._get()
                async with asyncio.timeout(self._timeout_s):
                    letters = await broker.dead_letters(limit)
            except Exception as exc:
                log.warning("dead letters unavailable", error=_reason(exc))
                return cached[2] if cached else []
        self._letters = (now, waiting, letters)
        return letters

    async def close(self) -> None:
        """Close the connection, if one was opened."""
        if self._broker is not None:
            await self._broker.close()
            self._broker = None
