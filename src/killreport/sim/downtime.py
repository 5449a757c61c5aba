"""ESI's downtime: while a window is open ESI answers 503 (and /status 502); then a new start_time.

A window opens when asked (`POST /_sim/downtime`) and, unless `daily_s` is 0, every day at
`daily_at_s` seconds into the UTC day (11:00, like ESI's), for `daily_s` seconds.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Final

from killreport.sim.limits import Clock
from killreport.sim.options import DAILY_DOWNTIME_AT, parse_time_of_day, time_of_day

DAY_S: Final = 86400.0
ELEVEN_S: Final = parse_time_of_day(DAILY_DOWNTIME_AT)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(int(ts), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def last_restart(now: float) -> float:
    """The most recent 11:05 UTC before `now`: when the cluster came back from the last daily downtime."""
    today = dt.datetime.fromtimestamp(now, dt.UTC).replace(hour=11, minute=5, second=0, microsecond=0)
    moment = today if today.timestamp() <= now else today - dt.timedelta(days=1)
    return moment.timestamp()


def latest_daily(now: float, at_s: float) -> float:
    """The latest daily downtime's start at or before `now` (`at_s` seconds into a UTC day)."""
    return math.floor((now - at_s) / DAY_S) * DAY_S + at_s


class Downtime:
    """The downtime window and the cluster's `start_time`; `generation` counts the windows opened."""

    def __init__(self, clock: Clock, daily_s: float = 0.0, daily_vip_s: float = 0.0,
                 daily_at_s: float = ELEVEN_S) -> None:
        self.clock = clock
        self.daily_s, self.daily_vip_s, self.daily_at_s = daily_s, daily_vip_s, daily_at_s
        self.until = 0.0
        self.generation = 0
        now = clock()
        if daily_s > 0:
            latest = latest_daily(now, daily_at_s)
            # Started inside today's window: that window is still to open (on the first request).
            self.daily_done = latest if now >= latest + daily_s else latest - DAY_S
            self.start_time = self.daily_done + daily_s
        else:
            self.daily_done = math.inf
            self.start_time = last_restart(now)
        self.vip_until = self.start_time + daily_vip_s

    def begin(self, seconds: float, vip_seconds: float = 0.0) -> None:
        """Open a window of `seconds`; the cluster then restarts and is VIP-only for `vip_seconds`."""
        self._open(self.clock() + seconds, vip_seconds)

    def _open(self, until: float, vip_seconds: float) -> None:
        self.until = until
        self.vip_until = until + vip_seconds
        self.start_time = until
        self.generation += 1

    def _roll(self) -> None:
        """Open the daily window once its time has come (at most once a day)."""
        if self.daily_s <= 0:
            return
        latest = latest_daily(self.clock(), self.daily_at_s)
        if latest > self.daily_done:
            self.daily_done = latest
            self._open(max(self.until, latest + self.daily_s), self.daily_vip_s)

    def active(self) -> bool:
        """Whether ESI is down now."""
        self._roll()
        return self.clock() < self.until

    def vip(self) -> bool:
        """Whether the cluster only accepts VIP logins now."""
        self._roll()
        return self.clock() < self.vip_until

    def revision(self) -> int:
        """Changes whenever the /status body would."""
        vip = self.vip()
        return self.generation * 2 + (1 if vip else 0)

    def status_body(self, players: int) -> dict[str, Any]:
        """The `GET /status` body while the cluster is up."""
        vip = self.vip()
        return {"players": players, "server_version": "2968471", "start_time": _iso(self.start_time),
                "vip": vip}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready state for the control API."""
        active, vip = self.active(), self.vip()
        return {"active": active, "remaining_s": max(0.0, self.until - self.clock()),
                "start_time": _iso(self.start_time), "vip": vip, "windows": self.generation,
                "daily": {"at": time_of_day(self.daily_at_s), "seconds": self.daily_s,
                          "vip_seconds": self.daily_vip_s}}
