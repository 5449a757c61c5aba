"""Run a simulator inside a test or benchmark, and drive it through its control API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from killreport.sim.limits import Clock
from killreport.sim.options import SimOptions
from killreport.sim.server import SimServer
from killreport.sim.state import Sim


class SimControl:
    """A client for every `/_sim/` call; each returns the decoded JSON answer."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.session.request(method, f"{self.base_url}/_sim{path}", json=body) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise ValueError(f"{method} /_sim{path}: {resp.status} {data}")
            return data

    async def stats(self) -> dict[str, Any]:
        """GET /_sim/stats."""
        return dict(await self._call("GET", "/stats"))

    async def reset_stats(self) -> dict[str, Any]:
        """POST /_sim/stats/reset."""
        return dict(await self._call("POST", "/stats/reset"))

    async def truth(self, *, ever: bool = False) -> dict[str, Any]:
        """GET /_sim/truth; with `ever`, also every entity any truth listed, retired ones included."""
        return dict(await self._call("GET", "/truth?ever=1" if ever else "/truth"))

    async def truth_of(self, characters: Sequence[int] = (),
                       corporations: Sequence[int] = ()) -> dict[str, Any]:
        """POST /_sim/truth/ids: the truth of these ids only, eager or lazy (see docs/simulator.md)."""
        return dict(await self._call("POST", "/truth/ids", {"characters": list(characters),
                                                            "corporations": list(corporations)}))

    async def history(self, kind: str, entity_id: int) -> list[dict[str, Any]]:
        """GET /_sim/history/{kind}s/{id}: one history's truth, newest first (`character`, `corporation`)."""
        return list((await self._call("GET", f"/history/{kind}s/{entity_id}"))["records"])

    async def histories(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """GET /_sim/histories: every listed corporation's and character's history, by section and id."""
        return dict(await self._call("GET", "/histories"))

    async def faults(self) -> dict[str, Any]:
        """GET /_sim/faults."""
        return dict(await self._call("GET", "/faults"))

    async def set_faults(self, **settings: Any) -> dict[str, Any]:
        """POST /_sim/faults with any of the fault settings (see docs/simulator.md)."""
        return dict(await self._call("POST", "/faults", settings))

    async def downtime(self, seconds: float, vip_seconds: float = 0.0) -> dict[str, Any]:
        """POST /_sim/downtime."""
        return dict(await self._call("POST", "/downtime", {"seconds": seconds, "vip_seconds": vip_seconds}))

    async def spend_error_budget(self, ip: str | None = None, rate: float | None = None) -> dict[str, Any]:
        """POST /_sim/spend-error-budget: the caller's IP unless `ip`; all now, or `rate` errors a second."""
        body = {key: value for key, value in (("ip", ip), ("rate", rate)) if value is not None}
        return dict(await self._call("POST", "/spend-error-budget", body))

    async def mutate(self, count: int, kinds: list[str] | None = None) -> dict[str, Any]:
        """POST /_sim/mutate: `count` changes of `kinds` (default: the original mix; docs/simulator.md)."""
        body: dict[str, Any] = {"count": count} if kinds is None else {"count": count, "kinds": kinds}
        return dict(await self._call("POST", "/mutate", body))

    async def override(self, path: str, *, status: int | None = None, mode: str | None = None,
                       times: int | None = None) -> dict[str, Any]:
        """POST /_sim/override: force `status` or malformed `mode` on `path`, `times` times or for good."""
        body: dict[str, Any] = {"path": path, "times": times}
        body.update({k: v for k, v in (("status", status), ("mode", mode)) if v is not None})
        return dict(await self._call("POST", "/override", body))

    async def kills(self, since: int | None = None) -> dict[str, Any]:
        """GET /_sim/kills: every published kill (`since`: from that sequence on), head and pointer."""
        return dict(await self._call("GET", "/kills" if since is None else f"/kills?since={since}"))

    async def publish_kills(self, count: int, *, late: bool | None = None,
                            broken: bool = False) -> list[dict[str, Any]]:
        """POST /_sim/kills: publish `count` kills now; `late` forces or forbids late postings; `broken`:
        their files' killmails fail CCP's schema."""
        body: dict[str, Any] = {"count": count, "broken": broken} | ({} if late is None else {"late": late})
        return list((await self._call("POST", "/kills", body))["kills"])

    async def clear_overrides(self) -> dict[str, Any]:
        """DELETE /_sim/override."""
        return dict(await self._call("DELETE", "/override"))


@dataclass(frozen=True, slots=True)
class RunningSim:
    """A simulator serving on `base_url` and R2Z2 on `r2z2_url`; `sim` is its state, `control` drives it."""

    base_url: str
    r2z2_url: str
    sim: Sim
    control: SimControl


@asynccontextmanager
async def running_sim(clock: Clock = time.time, **options: Any) -> AsyncIterator[RunningSim]:
    """Run a simulator on 127.0.0.1 and a free port for the duration of the block; options as SimOptions.

    `clock` is the simulator's (epoch seconds): a test can set the time of day it believes it is.
    Without a daily downtime unless `daily_downtime_s` is given: a test that happens to run at 11:00
    UTC must not see one it did not ask for.
    """
    options.setdefault("daily_downtime_s", 0.0)
    host = options.pop("host", "127.0.0.1")
    port = options.pop("port", 0)
    r2z2_port = options.pop("r2z2_port", 0)
    server = SimServer(Sim(SimOptions(**options), clock))
    url = await server.start(host, port, r2z2_port)
    try:
        async with aiohttp.ClientSession() as session:
            yield RunningSim(url, server.r2z2_url, server.sim, SimControl(url, session))
    finally:
        await server.stop()
