"""Injected faults: the settings, the per-request draw, per-path overrides and malformed bodies."""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, fields
from typing import Any, Final

from killreport.sim.options import MALFORMED_MODES, SimOptions

MESSAGES: Final = {
    400: "Bad request", 404: "Not found", 405: "Method not allowed", 429: "Too many requests",
    420: "This software has exceeded the error limit for ESI. If you are a user, please contact the "
         "maintainer of this software. If you are a developer/maintainer, please make a greater effort in "
         "the future to receive valid responses. For tips on how, come have a chat with us on "
         "##3rd-party-dev-and-esi on the EVE Online Discord. https://www.eveonline.com/discord",
    500: "Unhandled internal error encountered!", 502: "Bad gateway",
    503: "The datasource tranquility is temporarily unavailable", 504: "Timeout contacting tranquility",
}
INJECTED_STATUSES: Final = (500, 502, 503, 504)
HTML_502: Final = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                   b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
                   b"</body>\r\n</html>\r\n")
HTML_200: Final = (b"<!DOCTYPE html><html><head><title>EVE Swagger Interface</title></head><body>"
                   b"<h1>Something went wrong</h1><p>Please try again later.</p></body></html>")


def message(status: int) -> str:
    """The body text ESI uses for an error status."""
    return MESSAGES.get(status, "Unhandled internal error encountered!")


_SIM = SimOptions()


@dataclass(slots=True)
class FaultSettings:
    """Faults in force now; changed at runtime through `/_sim/faults`."""

    # SimOptions' defaults: a fault setting starts as the command line's default.
    latency_ms: float = _SIM.latency_ms
    jitter_ms: float = _SIM.jitter_ms
    error_rate: float = _SIM.error_rate
    hang_rate: float = _SIM.hang_rate
    hang_s: float = _SIM.hang_s
    malformed_rate: float = _SIM.malformed_rate
    malformed_modes: tuple[str, ...] = _SIM.malformed_modes
    history_per_min: int = _SIM.history_per_min  # the history routes' hidden limit (0: none)

    @classmethod
    def from_options(cls, options: SimOptions) -> FaultSettings:
        """The settings the command line asked for."""
        return cls(**{f.name: getattr(options, f.name) for f in fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        out = asdict(self)
        out["malformed_modes"] = list(self.malformed_modes)
        return out

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a subset of settings after checking every one; raises ValueError on any bad value."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown fault settings {unknown}; expected some of {sorted(known)}")
        checked: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "malformed_modes":
                modes = tuple(value) if isinstance(value, list) else ()
                if not modes or any(m not in MALFORMED_MODES for m in modes):
                    raise ValueError(f"malformed_modes must be a non-empty list of {list(MALFORMED_MODES)}")
                checked[key] = modes
                continue
            if key == "history_per_min":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError("history_per_min must be a non-negative integer")
                checked[key] = value
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a non-negative number")
            if key.endswith("_rate") and value > 1:
                raise ValueError(f"{key} must be within 0..1")
            checked[key] = float(value)
        for key, value in checked.items():
            setattr(self, key, value)


@dataclass(frozen=True, slots=True)
class Draw:
    """What happens to one request: its delay, and at most one fault."""

    delay_s: float
    hang: bool = False
    error_status: int | None = None
    malformed: str | None = None


def draw(settings: FaultSettings, rng: random.Random) -> Draw:
    """Draw the faults of one request from the settings."""
    delay = (settings.latency_ms + rng.uniform(0, settings.jitter_ms)) / 1000 if (
        settings.latency_ms or settings.jitter_ms) else 0.0
    if settings.hang_rate and rng.random() < settings.hang_rate:
        return Draw(delay, hang=True)
    if settings.error_rate and rng.random() < settings.error_rate:
        return Draw(delay, error_status=rng.choice(INJECTED_STATUSES))
    if settings.malformed_rate and rng.random() < settings.malformed_rate:
        return Draw(delay, malformed=rng.choice(settings.malformed_modes))
    return Draw(delay)


@dataclass(slots=True)
class Override:
    """A forced answer for one canonical path: a status or a malformed mode, `times` times or forever."""

    status: int | None
    mode: str | None
    times: int | None


class Overrides:
    """Per-path overrides set through `/_sim/override`."""

    def __init__(self) -> None:
        self._by_path: dict[str, Override] = {}

    def set(self, path: str, override: Override) -> None:
        """Force answers for `path` (a canonical path)."""
        self._by_path[path] = override

    def clear(self) -> None:
        """Remove every override."""
        self._by_path.clear()

    def take(self, path: str) -> Override | None:
        """The override for `path`, counting one use of it."""
        found = self._by_path.get(path)
        if found is None:
            return None
        if found.times is not None:
            found.times -= 1
            if found.times <= 0:
                del self._by_path[path]
        return found

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready overrides."""
        return {p: asdict(o) for p, o in self._by_path.items()}

    def __bool__(self) -> bool:
        return bool(self._by_path)


def malform(mode: str, data: Any, body: bytes, huge_bytes: int) -> tuple[int, str, bytes]:
    """(status, content type, body) of a malformed answer in `mode` for the good answer `data`/`body`."""
    if mode == "invalid_json":
        return 200, "application/json; charset=UTF-8", b'{"error": undefined, ' + body[: len(body) // 3]
    if mode == "html_200":
        return 200, "text/html", HTML_200
    if mode == "html_502":
        return 502, "text/html", HTML_502
    if mode == "truncated":
        return 200, "application/json; charset=UTF-8", body[: max(1, len(body) // 2)]
    if mode == "huge":
        return 200, "application/json; charset=UTF-8", _huge(data, huge_bytes)
    broken = _broken(mode, data)
    return 200, "application/json; charset=UTF-8", json.dumps(broken, ensure_ascii=False).encode()


def _broken(mode: str, data: Any) -> Any:
    target = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else data
    if isinstance(target, dict):
        copy = dict(target)
        key = next(iter(copy))
        if mode == "missing_field":
            del copy[key]
        else:
            copy[key] = 12345 if isinstance(copy[key], str) else "not a number"
        return [copy, *data[1:]] if isinstance(data, list) else copy
    if isinstance(data, list) and data:
        return ["not an id", *data[1:]]
    return {"unexpected": True}


def _huge(data: Any, size: int) -> bytes:
    if isinstance(data, dict):
        return json.dumps({**data, "padding": "x" * size}, ensure_ascii=False).encode()
    # Arrays get insignificant whitespace: still valid JSON with the same value, just enormous.
    return json.dumps(data).encode() + b" " * size
