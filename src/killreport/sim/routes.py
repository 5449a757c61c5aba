"""Match request paths (legacy prefixes, trailing slashes) to the ESI routes the simulator serves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from killreport.ids import MAX_ID
from killreport.sim.options import normalize_template


@dataclass(frozen=True, slots=True)
class Route:
    """One ESI route: its name, method, spec template and cache time (None: no Expires)."""

    name: str
    method: str
    template: str
    ttl: int | None

    @property
    def key(self) -> str:
        """The stats key, e.g. `GET /alliances/{alliance_id}`."""
        return f"{self.method} {self.template}"


ROUTES: Final = (
    Route("alliances", "GET", "/alliances", 3600),
    Route("alliance", "GET", "/alliances/{alliance_id}", 3600),
    Route("alliance_corporations", "GET", "/alliances/{alliance_id}/corporations", 3600),
    Route("corporation", "GET", "/corporations/{corporation_id}", 3600),
    Route("alliance_history", "GET", "/corporations/{corporation_id}/alliancehistory", 3600),
    Route("character", "GET", "/characters/{character_id}", 86400),
    Route("corporation_history", "GET", "/characters/{character_id}/corporationhistory", 86400),
    Route("affiliation", "POST", "/characters/affiliation", 3600),
    Route("names", "POST", "/universe/names", None),
    Route("status", "GET", "/status", 30),
    Route("killmail", "GET", "/killmails/{killmail_id}/{killmail_hash}", 2_592_000),
)
_BY_SHAPE: Final = {tuple(r.template.strip("/").split("/")): r for r in ROUTES}
_BY_PARAM_SHAPE: Final = {tuple(normalize_template(r.template).strip("/").split("/")): r for r in ROUTES}
_PREFIXES: Final = frozenset({"latest", "legacy", "dev", *(f"v{i}" for i in range(1, 7))})
UNKNOWN_KEY: Final = "unknown"


@dataclass(frozen=True, slots=True)
class Match:
    """A matched request: the route (None if no route has this shape), canonical path and id."""

    route: Route | None
    path: str
    entity_id: int | None = None
    bad_id: bool = False
    wrong_method: bool = False


def route_for_template(template: str) -> Route | None:
    """The route a `--bucket` template names (parameter names do not matter)."""
    wanted = normalize_template(template)
    for route in ROUTES:
        if normalize_template(route.template) == wanted:
            return route
    return None


def canonical(path: str) -> str:
    """The path without legacy prefix, duplicate or trailing slashes."""
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] in _PREFIXES:
        parts = parts[1:]
    return "/" + "/".join(parts)


def match(method: str, path: str) -> Match:
    """Find the route for `method path`, parsing the id segment if it has one."""
    canon = canonical(path)
    parts = canon.strip("/").split("/")
    route = _BY_SHAPE.get(tuple(parts))
    entity_id: int | None = None
    bad = False
    if route is None and len(parts) in (2, 3):
        shape = [parts[0], "{}", *parts[2:]]
        route = _BY_PARAM_SHAPE.get(tuple(shape))
        if route is None and len(parts) == 3:
            # The killmail route's last segment is a parameter too (the hash), checked by the route itself.
            route = _BY_PARAM_SHAPE.get((parts[0], "{}", "{}"))
        if route is not None:
            entity_id = _parse_id(parts[1])
            bad = entity_id is None
    if route is None:
        return Match(None, canon)
    return Match(route, canon, entity_id, bad, route.method != method)


def _parse_id(text: str) -> int | None:
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
