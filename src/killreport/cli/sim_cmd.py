"""`killreport sim`: run the local ESI simulator, or write its truth file and exit."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from cyclopts import Parameter

from killreport.sim.options import (
    DAILY_DOWNTIME_AT,
    SimOptions,
    parse_bucket,
    parse_route_scale,
    parse_time_of_day,
)
from killreport.sim.routes import ROUTES
from killreport.sim.server import serve_until_signal
from killreport.sim.state import bucket_map
from killreport.sim.truth import truth
from killreport.sim.universe import generate

_SIM = SimOptions()
_ROUTE_NAMES = tuple(route.name for route in ROUTES)


# name="*" flattens the fields into top-level flags, so the command line is what it was when they were
# the function's own keyword parameters (same flags, order, types and defaults in --help).
@Parameter(name="*")
@dataclass(frozen=True, slots=True, kw_only=True)
class SimArgs:
    """The flags of `killreport sim`, as the command line gives them.

    Parameters
    ----------
    host: Address to listen on.
    port: Port to listen on (0 picks a free one).
    seed: Seed of the generated universe.
    alliances: Number of active alliances.
    deleted_characters: Deleted characters among the referenced ones (default scales 150 per 3,550 alliances).
    latency_ms: Fixed latency added to every response.
    jitter_ms: Random extra latency, uniform in 0..jitter.
    error_rate: Share of requests answered 500/502/503/504.
    hang_rate: Share of requests that hang for --hang-s then answer 504.
    hang_s: How long a hung request hangs.
    malformed_rate: Share of 200s replaced by a malformed answer.
    malformed_modes: Comma-separated modes to pick from.
    error_window_s: Error-limit window in seconds.
    error_budget: Errors allowed per window and IP.
    bucket: Token-bucket group GROUP:ROUTE[+ROUTE]=TOKENS/WINDOW (repeatable).
    cache_scale: Multiplier on every route's cache time (e.g. 0.01 for fast refresh tests).
    cache_scale_route: One route's own multiplier, ROUTE=SCALE (e.g. character=0.0004; repeatable).
    tax_rates_as: How tax_rates is written from 2026-07-21: percent or fraction (unverified in ESI).
    history_per_min: Hidden limit on the two history routes, requests a minute per IP (0: off).
    daily_downtime_s: The daily downtime's length in seconds (0: none).
    daily_vip_s: After the daily downtime, /status says vip for this long.
    daily_downtime_at: When the daily downtime begins, HH:MM or HH:MM:SS UTC.
    r2z2_port: Port of the R2Z2 kill feed (default: --port + 1, or any free port when --port is 0).
    kill_rate: Kills published a second (0: none unless asked through the control API).
    kill_burst: Kills the timed generator publishes at once.
    kill_late_share: Share of kills posted 1..72 hours after they happened.
    kill_republish_share: Share of new kills that republish an earlier one (sequence_updated).
    r2z2_stale_share: Share of new files that answer 404 for --r2z2-stale-s after publication.
    r2z2_stale_s: How long a stale file keeps answering 404.
    r2z2_retention_s: How long an ephemeral file is served.
    r2z2_sequence_every: sequence.json moves to the newest file once every this many kills.
    r2z2_per_s: Feed requests a second per IP before 429 (0: no limit).
    r2z2_today: Serve the current day's history files too (the real feed waits for the day's end).
    population_characters: Lazy characters derived from their ids (1,000,000,000 + k), held once changed.
    population_corporations: Lazy corporations derived from their ids (1,900,000,000 + j).
    export_truth: Write the truth JSON to this file and exit.
    """

    host: str = "127.0.0.1"
    port: int = 8090
    # Every default below is SimOptions' own: the simulator's defaults live there once.
    seed: int = _SIM.seed
    alliances: int = _SIM.alliances
    deleted_characters: int | None = _SIM.deleted_characters
    latency_ms: float = _SIM.latency_ms
    jitter_ms: float = _SIM.jitter_ms
    error_rate: float = _SIM.error_rate
    hang_rate: float = _SIM.hang_rate
    hang_s: float = _SIM.hang_s
    malformed_rate: float = _SIM.malformed_rate
    malformed_modes: str = ",".join(_SIM.malformed_modes)
    error_window_s: float = _SIM.error_window_s
    error_budget: int = _SIM.error_budget
    bucket: list[str] | None = None
    cache_scale: float = _SIM.cache_scale
    cache_scale_route: list[str] | None = None
    tax_rates_as: str = _SIM.tax_rates_as
    history_per_min: int = _SIM.history_per_min
    daily_downtime_s: float = _SIM.daily_downtime_s
    daily_vip_s: float = _SIM.daily_vip_s
    daily_downtime_at: str = DAILY_DOWNTIME_AT
    r2z2_port: int | None = None
    kill_rate: float = _SIM.kill_rate
    kill_burst: int = _SIM.kill_burst
    kill_late_share: float = _SIM.kill_late_share
    kill_republish_share: float = _SIM.kill_republish_share
    r2z2_stale_share: float = _SIM.r2z2_stale_share
    r2z2_stale_s: float = _SIM.r2z2_stale_s
    r2z2_retention_s: float = _SIM.r2z2_retention_s
    r2z2_sequence_every: int = _SIM.r2z2_sequence_every
    r2z2_per_s: int = _SIM.r2z2_per_s
    r2z2_today: bool = _SIM.r2z2_today
    population_characters: int = _SIM.population_characters
    population_corporations: int = _SIM.population_corporations
    export_truth: Path | None = None

    def options(self) -> SimOptions:
        """The simulator options these flags ask for; raises ValueError on a bad value."""
        options = SimOptions(
            seed=self.seed, alliances=self.alliances, deleted_characters=self.deleted_characters,
            latency_ms=self.latency_ms, jitter_ms=self.jitter_ms, error_rate=self.error_rate,
            hang_rate=self.hang_rate, hang_s=self.hang_s, malformed_rate=self.malformed_rate,
            malformed_modes=tuple(m for m in self.malformed_modes.split(",") if m),
            error_window_s=self.error_window_s, error_budget=self.error_budget,
            buckets=tuple(parse_bucket(b) for b in self.bucket or ()), cache_scale=self.cache_scale,
            route_cache_scales=tuple(parse_route_scale(r, _ROUTE_NAMES)
                                     for r in self.cache_scale_route or ()),
            tax_rates_as=self.tax_rates_as, history_per_min=self.history_per_min,
            daily_downtime_s=self.daily_downtime_s, daily_vip_s=self.daily_vip_s,
            daily_downtime_at_s=parse_time_of_day(self.daily_downtime_at), kill_rate=self.kill_rate,
            kill_burst=self.kill_burst, kill_late_share=self.kill_late_share,
            kill_republish_share=self.kill_republish_share, r2z2_stale_share=self.r2z2_stale_share,
            r2z2_stale_s=self.r2z2_stale_s, r2z2_retention_s=self.r2z2_retention_s,
            r2z2_sequence_every=self.r2z2_sequence_every, r2z2_per_s=self.r2z2_per_s,
            r2z2_today=self.r2z2_today, population_characters=self.population_characters,
            population_corporations=self.population_corporations)
        bucket_map(options.buckets)  # a bucket naming no route fails here, before anything starts
        return options

    @property
    def feed_port(self) -> int:
        """The R2Z2 port: as given, else the one after ESI's (any free one when ESI's is)."""
        if self.r2z2_port is not None:
            return self.r2z2_port
        return self.port + 1 if self.port else 0


_DEFAULTS = SimArgs()


def sim(*, args: SimArgs = _DEFAULTS) -> int:
    """Run the local ESI simulator (see docs/simulator.md)."""
    try:
        options = args.options()
    except ValueError as exc:
        print(f"killreport sim: {exc}")
        return 2
    if args.export_truth is not None:
        return export_truth(options, args.export_truth)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_until_signal(options, args.host, args.port, args.feed_port))
    return 0


def export_truth(options: SimOptions, path: Path) -> int:
    """Write the truth of the universe `options` describe to `path`."""
    universe = generate(options.seed, options.alliances, options.deleted_count)
    text = json.dumps(truth(universe, options.tax_rates_as == "percent"), ensure_ascii=False, indent=1)
    path.write_text(text, encoding="utf-8")
    print(f"killreport sim: wrote the truth of {options.alliances} alliances (seed {options.seed}) to {path}")
    return 0
