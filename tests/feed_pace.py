"""An in-memory FeedPace on a fake clock, kept by domain/feed_pace.py's rules as the store keeps them
for every process: for one process's tests."""

from __future__ import annotations

from killreport.domain import feed_pace


class MemoryPace:
    """The shared pace of one process, with every refusal it heard and the answers that calmed it."""

    def __init__(self, max_rps: int, clock: list[float]) -> None:
        self.max_rps, self.clock = max_rps, clock
        self.sent: tuple[float, ...] = ()
        self.paused_until, self.in_a_row = float("-inf"), 0
        self.refusals: list[tuple[float | None, float]] = []
        self.calms = 0

    async def turn(self) -> float:
        now = self.clock[0]
        at, self.sent = feed_pace.next_slot(self.sent, now, self.paused_until, self.max_rps)
        return at - now

    async def refused(self, retry_after_s: float | None, first_s: float) -> float:
        self.refusals.append((retry_after_s, first_s))
        wait = feed_pace.pause_s(self.in_a_row, retry_after_s, first_s)
        self.paused_until, self.in_a_row = max(self.paused_until, self.clock[0] + wait), self.in_a_row + 1
        return wait

    async def answered(self) -> None:
        self.calms += 1
        self.in_a_row = 0
