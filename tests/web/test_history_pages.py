"""The history parts of the alliance, corporation and character pages, over the web's shared
database with fake_history's past behind the HistoryQueries seam: tables as a reader sees them."""

from __future__ import annotations

import datetime as dt
import html
import re

from tests.web.fake_history import GEWNS, GONE, GOONS, KFLT, MITTANI, ago
from tests.web.test_api import Client


def rows_of(page: str, table_class: str) -> list[str]:
    """The text of each body row of the table of `table_class`, its cells joined by " | "."""
    table = re.search(rf'<table class="list {table_class}">(.*?)</table>', page, re.S)
    assert table is not None, table_class
    body = table[1].split("<tbody>")[1]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
    return [" | ".join(_text(cell) for cell in row) for row in rows]


def _text(cell: str) -> str:
    """A cell's text as a reader sees it: tags gone, entities read, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", cell)).split())


async def text_of(client: Client, path: str) -> str:
    """A page's HTML."""
    resp = await client.get(path)
    assert resp.status == 200, path
    return await resp.text()


def when(moment: dt.datetime) -> str:
    """A time as the pages write it."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


async def test_a_character_page_lists_its_corporations(past: Client) -> None:
    page = await text_of(past, f"/characters/{MITTANI}")
    assert rows_of(page, "history") == [
        f"GoonWaffe [GEWNS] | {when(ago(3))} | still",
        f"KarmaFleet [KFLT] | 2015-01-01 00:00:00 UTC | {when(ago(3))}",
        f"#{GONE} (not in the copy yet) | 2012-05-01 00:00:00 UTC | 2015-01-01 00:00:00 UTC"]
    assert f'href="/corporations/{GEWNS}"' in page


async def test_a_corporation_page_lists_its_alliances_and_who_came_and_went(past: Client) -> None:
    page = await text_of(past, f"/corporations/{KFLT}")
    assert rows_of(page, "history") == [
        f"no alliance | {when(ago(10))} | still",
        f"Goonswarm Federation [CONDI] | 2019-01-01 00:00:00 UTC | {when(ago(10))}"]
    assert rows_of(page, "joined-left") == [f"{when(ago(3))} | The Mittani | left"]
    assert f'href="/api/corporations/{KFLT}/joined-left"' in page


async def test_an_alliance_page_lists_who_came_and_went_newest_first(past: Client) -> None:
    page = await text_of(past, f"/alliances/{GOONS}")
    assert rows_of(page, "joined-left") == [
        f"{when(ago(5))} | Pilot's \"Corp\" [P'C] | joined", f"{when(ago(10))} | KarmaFleet [KFLT] | left"]
    quiet = await text_of(past, "/alliances/99000003")
    assert "Nobody the copy knows of joined or left in the last 30 days." in quiet
    assert "No alliance history fetched yet." in await text_of(past, "/corporations/98000010")
    assert "No corporation history fetched yet." in await text_of(past, "/characters/90000003")
