"""The kills' JSON API over the shared database: a kill in ESI's shape plus zkb, the export, its errors."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from killreport.domain.killmail import Kill
from tests.kill_bodies import expected
from tests.web.conftest import Filled
from tests.web.fill_kills import BARE_KILL, HOSTILE_KILL, VILE_RAT
from tests.web.test_api import get_json

Client = TestClient[Any, Any]


def naming(kills: dict[int, Kill], key: str, entity_id: int) -> list[int]:
    """Ids of the kills naming `entity_id` under `key` (victim or attacker), ascending."""
    return sorted(i for i, k in kills.items()
                  if any(getattr(side, key) == entity_id for side in (k.esi.victim, *k.esi.attackers)))


async def export(client: Client, path: str) -> list[dict[str, Any]]:
    """Every kill of an export, following `next` to the end; each page's `after` is the last one's."""
    items: list[dict[str, Any]] = []
    url: str | None = path
    while url is not None:
        page = await get_json(client, url)
        assert page["after"] == (items[-1]["killmail_id"] if items else 0)
        items += page["items"]
        url = page["next"]
    return items


async def test_a_kill_is_esis_body_plus_zkb(client: Client, filled: Filled) -> None:
    hostile = await get_json(client, f"/api/killmails/{HOSTILE_KILL}")
    assert hostile == expected(filled.kills.by_id[HOSTILE_KILL])
    assert hostile["zkb"]["labels"][0] == "<script>window.__pwned = 1</script>", "raw, as zkb gave it"
    bare = await get_json(client, f"/api/killmails/{BARE_KILL}")
    assert bare == expected(filled.kills.by_id[BARE_KILL]) and bare["zkb"] is None


async def test_a_kill_not_held_or_a_bad_id(client: Client) -> None:
    assert await get_json(client, "/api/killmails/125999999", 404) == {
        "error": "no killmail 125999999 in the copy (yet)"}
    assert "id must be a whole number" in (await get_json(client, "/api/killmails/0x1f", 400))["error"]


async def test_the_export_gives_every_kill_once_in_id_order(client: Client, filled: Filled) -> None:
    everything = await export(client, "/api/killmails?limit=7")
    assert everything == [expected(filled.kills.by_id[i]) for i in sorted(filled.kills.by_id)]
    one_page = await get_json(client, "/api/killmails")
    assert one_page["limit"] == 100 and one_page["next"] is None and len(one_page["items"]) == len(everything)
    tail = await get_json(client, f"/api/killmails?after={max(filled.kills.by_id)}")
    assert tail == {"items": [], "after": max(filled.kills.by_id), "limit": 100, "next": None}


@pytest.mark.parametrize(("name", "entity_id"), [("character_id", VILE_RAT["character_id"]),
                                                 ("corporation_id", 98_777_777),
                                                 ("alliance_id", 99000001)])
async def test_the_export_filters_by_one_entity(client: Client, filled: Filled, name: str,
                                                entity_id: int) -> None:
    found = await export(client, f"/api/killmails?{name}={entity_id}&limit=25")
    assert [k["killmail_id"] for k in found] == naming(filled.kills.by_id, name, entity_id)
    assert found and all(k == expected(filled.kills.by_id[k["killmail_id"]]) for k in found)


@pytest.mark.parametrize(("query", "says"), [
    ("limit=0", "limit must be a whole number from 1 to 1000, got '0'"),
    ("limit=1001", "limit must be a whole number from 1 to 1000, got '1001'"),
    ("after=-1", "after must be a whole number from 0 to 9223372036854775807, got '-1'"),
    ("after=1&after=2", "after is given 2 times; give it once"),
    ("character_id=1&alliance_id=2", "give at most one of character_id, corporation_id, alliance_id, got "
                                     "alliance_id and character_id"),
    ("corporation_id=abc", "corporation_id must be a whole number from 1 to 9223372036854775807, got 'abc'"),
    ("character=90000002", "unknown parameter 'character'; this endpoint takes after, limit, character_id, "
                           "corporation_id, alliance_id"),
])
async def test_bad_export_parameters_say_what_is_wrong(client: Client, query: str, says: str) -> None:
    assert await get_json(client, f"/api/killmails?{query}", 400) == {"error": says}
