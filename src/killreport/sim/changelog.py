"""Record one game change: what ESI served before and after, so exactly the changed resources re-render.

A change *watches* every entity it may affect before touching the model; when it is done the record
renders those entities again, touches each resource whose answer differs (new ETag, Last-Modified and
Expires, like ESI's cache) and logs one row per changed field, as a copy of ESI would see it.
"""

from __future__ import annotations

from typing import Any, Final

from killreport.sim import schemas
from killreport.sim.model import ResourceKey, Universe

DELETED: Final = "deleted"  # what a biomassed character's routes show: 404 Character has been deleted!
# Which entity kind owns each resource, for the ids a change reports.
_OWNER: Final = {"alliance": "alliances", "alliance_corporations": "alliances", "listed": "alliances",
                 "corporation": "corporations", "alliance_history": "corporations",
                 "character": "characters", "corporation_history": "characters"}
_PATHS: Final = {"alliance": "/alliances/{}", "alliance_corporations": "/alliances/{}/corporations",
                 "listed": "/alliances", "corporation": "/corporations/{}",
                 "alliance_history": "/corporations/{}/alliancehistory", "character": "/characters/{}",
                 "corporation_history": "/characters/{}/corporationhistory"}

Views = dict[str, Any]


def views(uni: Universe, entity: str, eid: int) -> Views:
    """Every answer ESI gives about one entity, by resource name (None: the entity does not exist)."""
    if entity == "alliance":
        a = uni.alliances.get(eid)
        if a is None:
            return {"alliance": None, "alliance_corporations": None, "listed": False}
        return {"alliance": schemas.alliance(a), "alliance_corporations": sorted(a.members),
                "listed": not a.closed}
    if entity == "corporation":
        c = uni.corporations.get(eid)
        if c is None:
            return {"corporation": None, "alliance_history": None}
        return {"corporation": [schemas.corporation(c, v, True) for v in (1, 2)],
                "alliance_history": schemas.alliance_history(uni, c.alliance_history)}
    ch = uni.characters.get(eid)
    if ch is None or ch.npc:
        return {"character": None, "corporation_history": None}
    if ch.deleted:
        return {"character": DELETED, "corporation_history": DELETED}
    alliance_id = uni.alliance_of_character(ch)
    return {"character": [schemas.character(ch, alliance_id, v) for v in (1, 2)],
            "corporation_history": schemas.corporation_history(uni, ch.corp_history)}


def resource_key(name: str, eid: int) -> ResourceKey:
    """The revision key of a resource; an alliance's listing is the one shared `GET /alliances`."""
    return ("alliances", 0) if name == "listed" else (name, eid)


def field_rows(entity: str, eid: int, before: Views, after: Views) -> list[dict[str, Any]]:
    """One row per changed field, as the current schema (2026-08-18) names it; see docs/simulator.md."""
    old, new = before[entity], after[entity]  # the main resource is named like the entity
    if old is None and new is not None:
        return [_row(entity, eid, "exists", False, True)]
    if new == DELETED:
        return [] if old == DELETED else [_row(entity, eid, "deleted", False, True)]
    rows: list[dict[str, Any]] = []
    if isinstance(old, list) and isinstance(new, list):
        rows = _body_rows(entity, eid, old[-1], new[-1])
    elif old != new:
        rows = _body_rows(entity, eid, old or {}, new or {})
    if entity == "alliance":
        for name, field in (("alliance_corporations", "corporations"), ("listed", "listed")):
            if before[name] != after[name]:
                rows.append(_row(entity, eid, field, before[name], after[name]))
    return rows


def _body_rows(entity: str, eid: int, old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    keys = sorted(set(old) | set(new))
    return [_row(entity, eid, k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def _row(entity: str, eid: int, field: str, old: Any, new: Any) -> dict[str, Any]:
    return {"entity": entity, "id": eid, "field": field, "old": old, "new": new}


class ChangeRecord:
    """One change in progress: the entities it watches and what they showed before it."""

    def __init__(self, uni: Universe, kind: str) -> None:
        self.uni = uni
        self.kind = kind
        self.before: dict[tuple[str, int], Views] = {}

    def watch(self, entity: str, *ids: int) -> None:
        """Remember how these entities look now; call before changing anything they show."""
        for eid in ids:
            if (entity, eid) not in self.before:
                self.before[(entity, eid)] = views(self.uni, entity, eid)

    def watch_new(self, entity: str, eid: int) -> None:
        """Register an entity this change creates (it did not exist before)."""
        self.before[(entity, eid)] = views(Universe(), entity, eid)

    def finish(self, subject: dict[str, int]) -> dict[str, Any]:
        """Touch every resource whose answer changed; the log entry of the change."""
        touched: set[tuple[str, int]] = set()
        rows: list[dict[str, Any]] = []
        for (entity, eid), before in sorted(self.before.items()):
            after = views(self.uni, entity, eid)
            touched.update((name, eid) for name in before if before[name] != after[name])
            rows += field_rows(entity, eid, before, after)
        self.uni.touch(*sorted({resource_key(name, eid) for name, eid in touched}))
        ids: dict[str, set[int]] = {"alliances": set(), "corporations": set(), "characters": set()}
        for name, eid in touched:
            ids[_OWNER[name]].add(eid)
        paths = sorted({_PATHS[name].format(eid) for name, eid in touched})
        return {"change": self.kind, **subject, "touched": {k: sorted(v) for k, v in ids.items()},
                "paths": paths, "fields": rows}
