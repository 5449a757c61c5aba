"""The back-fill's requests to R2Z2: each on a turn of the shared FeedPace, refusals and trouble retried.

The follower keeps its own loop (follower.py); both take their turns from the same FeedPace, so R2Z2's
cap holds for every process together, and a refusal either of them meets pauses both. The rules (which
failure pauses, and from what first length) are pace.py's, shared.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from killreport.domain import feed_pace
from killreport.domain.kill_store import FeedPace
from killreport.r2z2 import pace
from killreport.r2z2.client import R2z2Client
from killreport.r2z2.errors import R2z2Error, Unreachable
from killreport.r2z2.raw import RawDay

T = TypeVar("T")
OnPause = Callable[[R2z2Error, float], None]


class PacedFeed:
    """R2Z2's day files through the shared pace: a refusal or trouble pauses every process and is asked
    again, up to `attempts` tries in a row; then (or at once for an unusable answer) the error is raised.

    A feed that never answered since this PacedFeed was made is not waited for: no connection at all
    on the first request is a wrong R2Z2_URL or a feed that is down, and a command says so at once
    rather than after minutes of growing pauses."""

    def __init__(self, client: R2z2Client, shared: FeedPace, *, sleep: Callable[[float], Awaitable[None]],
                 attempts: int = 6, trouble_first_s: float = feed_pace.TROUBLE_FIRST_S,
                 on_pause: OnPause | None = None) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._client, self._pace, self._sleep = client, shared, sleep
        self._attempts, self._trouble_first_s = attempts, trouble_first_s
        self._on_pause = on_pause or (lambda _exc, _s: None)
        self._reached = False

    async def day(self, day: str) -> dict[int, str] | None:
        """history/{day}.json (None: no file for the day)."""
        return await self._paced(lambda: self._client.day(day))

    async def raw_day(self, day: str) -> RawDay | None:
        """history/raw/{day}.json (None: no raw file for the day)."""
        return await self._paced(lambda: self._client.raw_day(day))

    async def head(self) -> int:
        """ephemeral/sequence.json: the head pointer."""
        return await self._paced(self._client.sequence)

    async def totals(self) -> dict[str, int]:
        """history/totals.json."""
        return await self._paced(self._client.totals)

    async def _paced(self, call: Callable[[], Awaitable[T]]) -> T:
        tries = 0
        while True:
            wait = await self._pace.turn()
            if wait > 0:
                await self._sleep(wait)
            tries += 1
            try:
                result = await call()
            except R2z2Error as exc:
                self._reached = self._reached or exc.status is not None  # an HTTP answer came
                rule = pace.pause_rule(exc, trouble_first_s=self._trouble_first_s)
                if rule is None or (isinstance(exc, Unreachable) and not self._reached):
                    raise
                paused = await self._pace.refused(*rule)
                if tries >= self._attempts:
                    raise
                self._on_pause(exc, paused)
                continue
            self._reached = True
            await self._pace.answered()
            return result
