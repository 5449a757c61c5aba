"""Simulator options and the parsing of `--bucket` specs, as pure values."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

MALFORMED_MODES: Final = (
    "invalid_json", "html_200", "html_502", "missing_field", "wrong_type", "truncated", "huge",
)
DEFAULT_ALLIANCES: Final = 3_550
# A choice, not a measured proportion: see docs/simulator.md.
DEFAULT_DELETED_PER_DEFAULT_UNIVERSE: Final = 150

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
    tax_rates_as: str = "percent"
    corphistory_per_min: int = 300
    huge_bytes: int = 20_000_000

    def __post_init__(self) -> None:
        """Check values that would otherwise fail late and obscurely."""
        bad = [m for m in self.malformed_modes if m not in MALFORMED_MODES]
        if bad:
            raise ValueError(f"unknown malformed modes {bad}; expected some of {MALFORMED_MODES}")
        if self.tax_rates_as not in ("percent", "fraction"):
            raise ValueError("tax_rates_as must be 'percent' or 'fraction'")
        for name in ("error_rate", "hang_rate", "malformed_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        self.buckets = tuple(parse_bucket(b) if isinstance(b, str) else b for b in self.buckets)

    @property
    def deleted_count(self) -> int:
        """The number of deleted characters among the referenced ones."""
        if self.deleted_characters is not None:
            return self.deleted_characters
        return default_deleted(self.alliances)
