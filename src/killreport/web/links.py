"""Where each entity lives on the site and in the API, and how list pages point to the next one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from killreport.ids import Kind, is_special
from killreport.store.lookup import Page, Row
from killreport.web.security import IMAGE_SERVER

PLURAL: Final[Mapping[Kind, str]] = {
    "alliance": "alliances", "corporation": "corporations", "character": "characters"}


def page_url(kind: Kind, entity_id: int) -> str:
    """The HTML page of an entity."""
    return f"/{PLURAL[kind]}/{entity_id}"


def api_url(kind: Kind, entity_id: int) -> str:
    """The JSON record of an entity."""
    return f"/api/{PLURAL[kind]}/{entity_id}"


def link(kind: Kind, entity_id: int | None, known: Mapping[tuple[Kind, int], Row]) -> Row | None:
    """A reference to another entity: its id, name and ticker when the copy has them, and where it is."""
    if entity_id is None:
        return None
    if is_special(kind, entity_id):
        # The system, NPC and faction ids: ESI has no record of them for the copy to hold.
        return {"kind": kind, "id": entity_id, "name": None, "ticker": None, "npc": True, "url": None,
                "api": None}
    found = known.get((kind, entity_id), {})
    return {"kind": kind, "id": entity_id, "name": found.get("name"), "ticker": found.get("ticker"),
            "npc": False, "url": page_url(kind, entity_id), "api": api_url(kind, entity_id)}


def image_url(kind: Kind, entity_id: int) -> str:
    """A character's portrait or an alliance's or corporation's logo on CCP's image server, 128 px."""
    what = "portrait" if kind == "character" else "logo"
    return f"{IMAGE_SERVER}/{PLURAL[kind]}/{entity_id}/{what}?size=128"


def next_url(request: web.Request, page: Page, current: int) -> str | None:
    """This request's URL for the following page (other parameters kept), or None on the last page."""
    if not page.more:
        return None
    return str(request.rel_url.update_query(page=current + 1))


def json_time(value: dt.datetime) -> str:
    """A time as JSON and the status page show it: ISO 8601 in UTC to the second, `Z` suffix.

    Seconds are enough (ESI's own times have no more), and a `since` taken from a shown time then
    repeats changes of that second rather than missing any.
    """
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def listed(kind: Kind, rows: list[Row]) -> list[Row]:
    """Rows of one kind with their page and API addresses added."""
    return [{**r, "url": page_url(kind, r["id"]), "api": api_url(kind, r["id"])} for r in rows]


def change_row(row: Row, known: Mapping[tuple[Kind, int], Row]) -> Row:
    """A recorded change as the site and the API show it, with the entity's name when known."""
    kind: Kind = row["kind"]
    named = known.get((kind, row["entity_id"]), {})
    return {"id": row["id"], "observed_at": row["observed_at"], "kind": kind, "entity_id": row["entity_id"],
            "entity": named.get("name") or f"#{row['entity_id']}", "field": row["field"],
            "old": row["old_value"], "new": row["new_value"], "url": page_url(kind, row["entity_id"])}


def plain(value: Any) -> Any:
    """json.dumps' `default`: times as ISO 8601 UTC."""
    if isinstance(value, dt.datetime):
        return json_time(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
