"""Retrying one ESI call the scheduler makes itself (jobs retry through the queues instead)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from killreport.esi.errors import TransientError

T = TypeVar("T")


async def retrying(call: Callable[[], Awaitable[T]], *, attempts: int = 4, first_delay_s: float = 1.0) -> T:
    """`call()`, again after 1, 2, 4... s on a transient ESI error; the last error propagates.

    A transient error without an Expires (a 5xx, a timeout) left nothing cached to ask early for.
    One that came with an Expires (a malformed body) propagates at once: ESI would serve the same
    answer until then, and asking sooner is asking before Expires. Every try goes through the
    shared budget.
    """
    for attempt in range(attempts - 1):
        try:
            return await call()
        except TransientError as exc:
            if exc.expires_at is not None:
                raise
            await asyncio.sleep(first_delay_s * 2**attempt)
    return await call()
