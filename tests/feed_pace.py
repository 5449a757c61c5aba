"""An in-memory FeedPace on a fake clock, kept by r2z2/pace.py's pure rules: what the store keeps for
every process, for one process's tests."""

from __future__ import annotations

from killreport.r2z2 import pace


class MemoryPace:
    """The shared pace of one process, with every call it heard."""

    def __init__(self, max_rps: int, clock: list[float]) -> None:
        self.max_rps, self.clock = max_rps, clock
        self.state = pace.Pace()
        self.refusals: list[tuple[float | None, float]] = []
        self.calms = 0

    async def turn(self) -> float:
        now = self.clock[0]
        at = self.state.next_at(now, self.max_rps)
        self.state = pace.sent(self.state, at, self.max_rps)
        return at - now

    async def refused(self, retry_after_s: float | None, first_s: float) -> float:
        self.refusals.append((retry_after_s, first_s))
        self.state = pace.paused(self.state, self.clock[0], retry_after_s, first_s)
        return self.state.paused_until - self.clock[0]

    async def answered(self) -> None:
        self.calms += 1
        self.state = pace.answered(self.state)
