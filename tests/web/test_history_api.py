"""The history routes of the JSON API over the shared database, with a FakeHistory behind the
HistoryQueries seam (the names come from the copy, the intervals from fake_history's past)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from killreport.web.links import json_time
from tests.web.fake_history import GEWNS, GONE, GOONS, KFLT, MITTANI, PCORP, VILE_RAT, ago
from tests.web.test_api import Client, get_json


def named(item: dict[str, Any] | None) -> tuple[int, str | None] | None:
    """A link as (id, name)."""
    return None if item is None else (item["id"], item["name"])


async def test_a_characters_corporations_newest_first_named_from_the_copy(past: Client) -> None:
    body = await get_json(past, f"/api/characters/{MITTANI}/history")
    assert (body["kind"], body["id"]) == ("character", MITTANI)
    assert [(named(i["corporation"]), i["start"], i["end"]) for i in body["items"]] == [
        ((GEWNS, "GoonWaffe"), json_time(ago(3)), None),
        ((KFLT, "KarmaFleet"), "2015-01-01T00:00:00Z", json_time(ago(3))),
        ((GONE, None), "2012-05-01T00:00:00Z", "2015-01-01T00:00:00Z")]
    assert body["items"][1]["corporation"]["url"] == f"/corporations/{KFLT}"


async def test_a_corporations_alliances_with_the_times_outside_any(past: Client) -> None:
    body = await get_json(past, f"/api/corporations/{KFLT}/history")
    assert [(named(i["alliance"]), i["start"], i["end"]) for i in body["items"]] == [
        (None, json_time(ago(10)), None),
        ((GOONS, "Goonswarm Federation"), "2019-01-01T00:00:00Z", json_time(ago(10)))]


async def test_an_alliances_members_at_a_time(past: Client) -> None:
    async def members(query: str) -> list[int]:
        return [i["id"] for i in (await get_json(past, f"/api/alliances/{GOONS}/members{query}"))["items"]]
    assert await members("") == [GEWNS, PCORP], "now by default"
    assert await members("?at=2017-06-01") == [GEWNS, GONE]
    assert await members("?at=7d") == [GEWNS], "between KarmaFleet leaving and P'C joining"
    body = await get_json(past, f"/api/alliances/{GOONS}/members?at=2016-01-01T00:00:00Z")
    assert (body["at"], [i["id"] for i in body["items"]]) == ("2016-01-01T00:00:00Z", [GEWNS])


async def test_joined_and_left_oldest_first_in_the_window(past: Client) -> None:
    body = await get_json(past, f"/api/alliances/{GOONS}/joined-left")
    assert body["since"] == json_time(body_until(body) - dt.timedelta(days=30)), "30 days by default"
    assert [(i["event"], named(i["member"]), i["at"]) for i in body["items"]] == [
        ("left", (KFLT, "KarmaFleet"), json_time(ago(10))),
        ("joined", (PCORP, 'Pilot\'s "Corp"'), json_time(ago(5)))]
    corp = await get_json(past, f"/api/corporations/{GEWNS}/joined-left?since=2013-06-01&until=2014-06-01")
    assert [(i["event"], named(i["member"])) for i in corp["items"]] == [("joined", (VILE_RAT, "Vile Rat"))]
    moved = await get_json(past, f"/api/corporations/{KFLT}/joined-left?since=4d")
    assert [(i["event"], i["member"]["id"]) for i in moved["items"]] == [("left", MITTANI)]
    window = await get_json(past, f"/api/alliances/{GOONS}/joined-left?since=2017-01-01&until=2018-01-01")
    assert [(i["event"], i["member"]["id"]) for i in window["items"]] == [("joined", GONE)], "until excluded"


def body_until(body: dict[str, Any]) -> dt.datetime:
    """The `until` an answer covered."""
    return dt.datetime.fromisoformat(body["until"].replace("Z", "+00:00"))


@pytest.mark.parametrize(("path", "message"), [
    (f"/api/alliances/{GOONS}/members?at=soon",
     "at must be a time like 2026-11-30T10:00Z or an age like 3d, got 'soon'"),
    (f"/api/alliances/{GOONS}/members?at=2003-05-05",
     "at must be between 2003-05-06 and now, got '2003-05-05'"),
    (f"/api/alliances/{GOONS}/members?at=2999-01-01",
     "at must be between 2003-05-06 and now, got '2999-01-01'"),
    (f"/api/alliances/{GOONS}/members?at=99999999999d",
     "at must be a time like 2026-11-30T10:00Z or an age like 3d, got '99999999999d'"),
    (f"/api/alliances/{GOONS}/joined-left?since=2026-01-01&until=2025-01-01",
     "since must be before until, got 2026-01-01T00:00:00Z and 2025-01-01T00:00:00Z"),
    (f"/api/corporations/{GEWNS}/joined-left?since=2020-01-01&until=2022-01-01",
     "since and until must be at most 366 days apart, got 731"),
    (f"/api/corporations/{GEWNS}/joined-left?until=1d&until=2d", "until is given 2 times; give it once"),
    (f"/api/alliances/{GOONS}/members?at={'9' * 5000}d",
     f"at must be a time like 2026-11-30T10:00Z or an age like 3d, got '{'9' * 40}…'"),
])
async def test_bad_times_are_a_400_that_says_why(past: Client, path: str, message: str) -> None:
    assert await get_json(past, path, 400) == {"error": message}


@pytest.mark.parametrize("path", [
    "/api/characters/123/history", "/api/corporations/123/history", "/api/alliances/123/members",
    "/api/alliances/123/joined-left", "/api/corporations/123/joined-left"])
async def test_an_entity_the_copy_lacks_is_a_404(past: Client, path: str) -> None:
    assert (await get_json(past, path, 404))["error"].endswith("123 in the copy (yet)")
