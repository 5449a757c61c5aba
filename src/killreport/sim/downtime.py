"""The daily downtime: while a window is open ESI answers 503 (and /status 502); then a new start_time."""

from __future__ import annotations

import datetime as dt
from typing import Any

from killreport.sim.limits import Clock


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(int(ts), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def last_restart(now: float) -> float:
    """The most recent 11:05 UTC before `now`: when the cluster came back from the last daily downtime."""
    today = dt.datetime.fromtimestamp(now, dt.UTC).replace(hour=11, minute=5, second=0, microsecond=0)
    moment = today if today.timestamp() <= now else today - dt.timedelta(days=1)
    return moment.timestamp()


class Downtime:
    """The downtime window and the cluster's `start_time`; `generation` changes whenever /status would."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.until = 0.0
        self.vip_until = 0.0
        self.start_time = last_restart(clock())
        self.generation = 0

    def begin(self, seconds: float, vip_seconds: float = 0.0) -> None:
        """Open a window of `seconds`; the cluster then restarts and is VIP-only for `vip_seconds`."""
        now = self.clock()
        self.until = now + seconds
        self.vip_until = self.until + vip_seconds
        self.start_time = self.until
        self.generation += 1

    def active(self) -> bool:
        """Whether ESI is down now."""
        return self.clock() < self.until

    def vip(self) -> bool:
        """Whether the cluster only accepts VIP logins now."""
        return self.clock() < self.vip_until

    def revision(self) -> int:
        """Changes whenever the /status body would."""
        return self.generation * 2 + (1 if self.vip() else 0)

    def status_body(self, players: int) -> dict[str, Any]:
        """The `GET /status` body while the cluster is up."""
        return {"players": players, "server_version": "2968471", "start_time": _iso(self.start_time),
                "vip": self.vip()}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready state for the control API."""
        now = self.clock()
        return {"active": self.active(), "remaining_s": max(0.0, self.until - now),
                "start_time": _iso(self.start_time), "vip": self.vip()}
