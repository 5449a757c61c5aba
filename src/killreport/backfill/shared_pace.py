"""domain.kill_store.FeedPace kept in the database (store.killmails' pace): one cap for every process."""

from __future__ import annotations

from killreport.store.interface import Store


class StoredPace:
    """R2Z2's request cap and pauses in the store's one pace row, each call its own transaction."""

    def __init__(self, store: Store, max_rps: int) -> None:
        self._store, self._max_rps = store, max_rps
        # Whether this process was refused since it last calmed the pace: an answer calms it only
        # then, so the common answer costs no transaction (bench/killmails.py --follow: about 1 ms of
        # CPU a kill). Refusals another process met are calmed by that process's next answer.
        self._refused = False

    async def turn(self) -> float:
        """Take the next request slot: the seconds to wait before sending it (0: now)."""
        async with self._store.begin() as conn:
            return await self._store.killmails.reserve_pace(conn, self._max_rps)

    async def refused(self, retry_after_s: float | None, first_s: float) -> float:
        """The feed refused or failed: every process pauses; returns the pause in seconds."""
        self._refused = True
        async with self._store.begin() as conn:
            return await self._store.killmails.pause_pace(conn, retry_after_s, first_s)

    async def answered(self) -> None:
        """An answer that was not a refusal: the next pause starts small again."""
        if not self._refused:
            return
        async with self._store.begin() as conn:
            await self._store.killmails.calm_pace(conn)
        self._refused = False
