"""What the kill pages show, gathered once: a kill with the names of everyone on it, and lists of kills.

The names come from the copy (one query per page, LookupQueries.names); an id the copy does not
hold yet is shown by number, an NPC or faction id without a link (links.link).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import KINDS, Kind
from killreport.store.interface import Store
from killreport.store.lookup import Row
from killreport.web.links import PLURAL, link

# Newest kills and losses on an entity page (each side), on a list page, and on the front page.
SHOWN: Final = 20
LIST_ROWS: Final = 50
RECENT: Final = 20
SIDES: Final = ("kills", "losses")
# ESI's optional fields of an attacker and of an item, which a page shows as "-" when absent.
ATTACKER_FIELDS: Final = ("character_id", "corporation_id", "alliance_id", "faction_id", "ship_type_id",
                          "weapon_type_id")
ITEM_FIELDS: Final = ("quantity_destroyed", "quantity_dropped")


def _filled(row: Mapping[str, object], optional: Iterable[str]) -> Row:
    # ESI leaves absent fields out; the templates read every one (None shows as "-").
    return {**{name: None for name in optional}, **row}


def kill_url(killmail_id: int) -> str:
    """The page of a kill."""
    return f"/killmails/{killmail_id}"


def list_url(kind: Kind, entity_id: int, side: str, before: int | None = None) -> str:
    """The list page of an entity's kills or losses, from the newest or below `before`."""
    base = f"/{PLURAL[kind]}/{entity_id}/{side}"
    return base if before is None else f"{base}?before={before}"


def _named(sides: Iterable[Mapping[str, int | None] | None]) -> set[tuple[Kind, int]]:
    return {(kind, entity_id) for side in sides if side is not None for kind in KINDS
            if (entity_id := side.get(f"{kind}_id")) is not None}


def _links(side: Mapping[str, int | None] | None, known: Mapping[tuple[Kind, int], Row]) -> Row | None:
    if side is None:
        return None
    return {kind: link(kind, side.get(f"{kind}_id"), known) for kind in KINDS}


async def kill(store: Store, conn: AsyncConnection, killmail_id: int) -> Row | None:
    """A kill as its page shows it: ESI's body and zkb, the victim's and each attacker's links."""
    body = await store.killmails.killmail(conn, killmail_id)
    if body is None:
        return None
    known = await store.lookup.names(conn, _named([body["victim"], *body["attackers"]]))
    attackers = [{**_filled(a, ATTACKER_FIELDS), "links": _links(a, known)} for a in body["attackers"]]
    victim = {**_filled(body["victim"], ("faction_id",)), "links": _links(body["victim"], known)}
    items = [{**_filled(i, ITEM_FIELDS), "contains": len(i.get("items") or ())}
             for i in body["victim"].get("items") or ()]
    return {"kill": _filled(body, ("moon_id", "war_id")), "victim": victim, "attackers": attackers,
            "zkb": body["zkb"], "items": items}


async def summaries(store: Store, conn: AsyncConnection, rows: list[Row]) -> list[Row]:
    """Summary rows (KillmailQueries.recent's) with their page and the links of victim and final blow."""
    sides = [side for r in rows for side in (r["victim"], r["final_blow"])]
    known = await store.lookup.names(conn, _named(sides))
    return [{**r, "url": kill_url(r["killmail_id"]), "victim_links": _links(r["victim"], known),
             "blow_links": _links(r["final_blow"], known)} for r in rows]


async def listing(store: Store, conn: AsyncConnection, kind: Kind, entity_id: int, side: str,
                  before: int | None, limit: int) -> Row:
    """An entity's kills or losses below `before`, newest first: up to `limit` rows, and the URL of
    the older ones (None when there are none)."""
    rows = await store.killmails.involving(conn, kind, entity_id, losses=side == "losses", before=before,
                                           limit=limit + 1)
    shown = rows[:limit]
    older = list_url(kind, entity_id, side, shown[-1]["killmail_id"]) if len(rows) > limit else None
    return {"side": side, "items": await summaries(store, conn, shown), "older": older,
            "all": list_url(kind, entity_id, side)}


async def entity_kills(store: Store, conn: AsyncConnection, kind: Kind, entity_id: int) -> Row:
    """The newest kills and losses of an entity, for its page."""
    return {side: await listing(store, conn, kind, entity_id, side, None, SHOWN) for side in SIDES}


async def recent(store: Store, conn: AsyncConnection) -> list[Row]:
    """The newest kills, for the front page."""
    return await summaries(store, conn, await store.killmails.recent(conn, RECENT))
