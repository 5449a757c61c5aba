"""Simulator options and the parsing of `--bucket` specs, as pure values."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from killreport.sim.population import check_sizes

MALFORMED_MODES: Final = (
    "invalid_json", "html_200", "html_502", "missing_field", "wrong_type", "truncated", "huge",
)
DEFAULT_ALLIANCES: Final = 3_550
# A choice, not a measured proportion: see docs/simulator.md.
DEFAULT_DELETED_PER_DEFAULT_UNIVERSE: Final = 150

# ESI's daily downtime: 11:00 UTC. The simulator's lasts two minutes by default (ESI's lasts about
# ten): long enough to be seen, short enough that the demo is not held up for long.
DAILY_DOWNTIME_AT: Final = "11:00"
DAILY_DOWNTIME_S: Final = 120.0
_DAY_S: Final = 86400

_WINDOW_UNITS: Final = {"s": 1, "m": 60, "h": 3600}
_BUCKET_RE: Final = re.compile(r"^(?P<group>[\w.-]+):(?P<routes>[^=]+)=(?P<tokens>\d+)/(?P<window>\d+[smh])$")


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """A token-bucket group: the routes it covers, its tokens and its floating window."""

    group: str
    routes: tuple[str, ...]
    tokens: int
    window_s: int
    window_text: str

    @property
    def limit_header(self) -> str:
        """The `X-Ratelimit-Limit` value, e.g. `150/15m`."""
        return f"{self.tokens}/{self.window_text}"


def normalize_template(route: str) -> str:
    """A route template with every `{param}` written `{}` and no trailing slash."""
    text = re.sub(r"\{[^}]*\}", "{}", route.strip())
    return text.rstrip("/") or "/"


def parse_window(text: str) -> int:
    """Seconds in a window written like `15m`, `60s` or `1h`."""
    match = re.fullmatch(r"(\d+)([smh])", text)
    if match is None:
        raise ValueError(f"bad window {text!r}; expected e.g. 15m, 60s, 1h")
    return int(match.group(1)) * _WINDOW_UNITS[match.group(2)]


def parse_bucket(text: str) -> BucketSpec:
    """Parse `GROUP:ROUTE[+ROUTE]=TOKENS/WINDOW`, e.g. `char:/characters/{character_id}=150/15m`."""
    match = _BUCKET_RE.match(text.strip())
    if match is None:
        raise ValueError(f"bad bucket {text!r}; expected GROUP:ROUTE[+ROUTE]=TOKENS/WINDOW")
    routes = tuple(normalize_template(r) for r in match.group("routes").split("+") if r.strip())
    window = match.group("window")
    return BucketSpec(match.group("group"), routes, int(match.group("tokens")), parse_window(window), window)


def parse_route_scale(text: str, routes: Iterable[str]) -> tuple[str, float]:
    """Parse `ROUTE=SCALE`, e.g. `character=0.0004`: one route's cache time multiplier."""
    name, sep, value = text.strip().partition("=")
    known = sorted(routes)
    if not sep or name not in known:
        raise ValueError(f"bad route scale {text!r}; expected ROUTE=SCALE, ROUTE one of {', '.join(known)}")
    try:
        scale = float(value)
    except ValueError:
        scale = -1.0
    if not 0 < scale < math.inf:
        raise ValueError(f"bad route scale {text!r}; SCALE must be a positive number")
    return name, scale


def parse_time_of_day(text: str) -> float:
    """Seconds into the day of a UTC time written `HH:MM` or `HH:MM:SS`."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text.strip())
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59 or int(match.group(3) or 0) > 59:
        raise ValueError(f"bad time of day {text!r}; expected HH:MM or HH:MM:SS (UTC)")
    return float(int(match.group(1)) * 3600 + int(match.group(2)) * 60 + int(match.group(3) or 0))


def time_of_day(seconds: float) -> str:
    """`HH:MM:SS` for seconds into the day."""
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def default_deleted(alliances: int) -> int:
    """Deleted characters for a universe of `alliances`, scaled from the default universe."""
    if alliances <= 0:
        return 0
    return max(1, round(DEFAULT_DELETED_PER_DEFAULT_UNIVERSE * alliances / DEFAULT_ALLIANCES))


@dataclass(slots=True)
class SimOptions:
    """Everything that shapes one simulator run; faults can change later through the control API."""

    seed: int = 1
    alliances: int = DEFAULT_ALLIANCES
    deleted_characters: int | None = None
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    hang_rate: float = 0.0
    hang_s: float = 30.0
    malformed_rate: float = 0.0
    malformed_modes: tuple[str, ...] = MALFORMED_MODES
    error_window_s: float = 60.0
    error_budget: int = 100
    buckets: tuple[BucketSpec, ...] = ()
    cache_scale: float = 1.0
    # Route name -> its own multiplier instead of cache_scale: a test can shorten the caches it
    # waits on without shortening one whose length its check depends on.
    route_cache_scales: tuple[tuple[str, float], ...] = ()
    tax_rates_as: str = "percent"
    # The history routes' hidden limit: requests a rolling minute per IP, then a 429 without any header.
    history_per_min: int = 0  # 0: no limit
    huge_bytes: int = 20_000_000
    daily_downtime_s: float = DAILY_DOWNTIME_S  # 0: no daily downtime
    daily_vip_s: float = 0.0  # after the daily downtime, /status says vip for this long
    daily_downtime_at_s: float = parse_time_of_day(DAILY_DOWNTIME_AT)  # seconds into the UTC day
    kill_rate: float = 0.0  # kills published a second by the timed generator; 0: only on request
    kill_burst: int = 1  # the timed generator publishes this many at once
    kill_late_share: float = 0.1  # share of kills posted 1..72 hours after they happened
    kill_republish_share: float = 0.0  # share of new packages that republish an earlier kill
    r2z2_stale_share: float = 0.0  # share of new files that answer 404 for r2z2_stale_s after publication
    r2z2_stale_s: float = 10.0
    r2z2_retention_s: float = 86400.0  # how long an ephemeral file is served
    r2z2_sequence_every: int = 51  # sequence.json moves to the newest file once every this many kills
    r2z2_per_s: int = 20  # requests a second per IP before 429 (0: no limit)
    r2z2_today: bool = False  # serve the current day's history files too (the real feed does not)
    # The lazy population (sim/population.py): characters and corporations derived from their ids.
    population_characters: int = 0
    population_corporations: int = 0

    def __post_init__(self) -> None:
        """Check values that would otherwise fail late and obscurely."""
        bad = [m for m in self.malformed_modes if m not in MALFORMED_MODES]
        if bad:
            raise ValueError(f"unknown malformed modes {bad}; expected some of {MALFORMED_MODES}")
        if isinstance(self.history_per_min, bool) or not isinstance(self.history_per_min, int) \
                or self.history_per_min < 0:
            raise ValueError("history_per_min must be a non-negative integer")
        if self.tax_rates_as not in ("percent", "fraction"):
            raise ValueError("tax_rates_as must be 'percent' or 'fraction'")
        for name in ("error_rate", "hang_rate", "malformed_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        if not 0.0 <= self.daily_downtime_s < _DAY_S or self.daily_vip_s < 0.0:
            raise ValueError("daily_downtime_s must be within 0..86399 and daily_vip_s not negative")
        if not 0.0 <= self.daily_downtime_at_s < _DAY_S:
            raise ValueError("daily_downtime_at_s must be within 0..86399 (seconds into the UTC day)")
        self._check_kills()
        check_sizes(self.population_characters, self.population_corporations)
        self.buckets = tuple(parse_bucket(b) if isinstance(b, str) else b for b in self.buckets)

    def _check_kills(self) -> None:
        for name in ("kill_late_share", "kill_republish_share", "r2z2_stale_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        if self.kill_rate < 0 or self.r2z2_stale_s < 0 or self.r2z2_retention_s <= 0 or self.r2z2_per_s < 0:
            raise ValueError("kill_rate, r2z2_stale_s and r2z2_per_s must not be negative, "
                             "r2z2_retention_s must be positive")
        if self.kill_burst < 1 or self.r2z2_sequence_every < 1:
            raise ValueError("kill_burst and r2z2_sequence_every must be at least 1")

    @property
    def deleted_count(self) -> int:
        """The number of deleted characters among the referenced ones."""
        if self.deleted_characters is not None:
            return self.deleted_characters
        return default_deleted(self.alliances)
