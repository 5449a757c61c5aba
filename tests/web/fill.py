"""Filling a database through the store (the same upserts the workers use) for the web's tests and bench."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.changes import Change
from killreport.domain import models
from killreport.sim import strings
from killreport.store import changes, jobs
from killreport.store import tables as t
from killreport.store.facts import CacheFacts

FOUNDED = "2015-03-04T05:06:07Z"
# Strings that would set window.__pwned or open a dialog if any page ran them: the browser test
# checks neither happens, with the Content-Security-Policy switched off so escaping alone is tested.
PWNED = (
    "<script>window.__pwned = 1</script>",
    '<img src="x" onerror="window.__pwned = 2">',
    '"><svg onload="window.__pwned = 3">',
    "</bdi></a><script>alert('pwned')</script>",
    "<iframe srcdoc=\"<script>parent.__pwned = 4</script>\"></iframe>",
    "javascript:window.__pwned = 5",
    "{{ 7 * 7 }} ${7*7} <%= 7*7 %>",
)


def facts(expires_in_s: float = 3600.0) -> CacheFacts:
    """Cache facts of an answer received now."""
    now = dt.datetime.now(dt.UTC)
    return CacheFacts(fetched_at=now, expires_at=now + dt.timedelta(seconds=expires_in_s), etag='"e"',
                      last_modified=now)


async def alliance(conn: AsyncConnection, alliance_id: int, name: str, ticker: str, *, creator_id: int,
                   creator_corporation_id: int, executor: int | None = None,
                   members: Sequence[int] = ()) -> None:
    """Store an alliance and its member list."""
    model = models.Alliance(name=name, ticker=ticker, creator_id=creator_id,
                            creator_corporation_id=creator_corporation_id, date_founded=FOUNDED,
                            executor_corporation_id=executor)
    await jobs.store(conn, alliance_id, model, facts())
    await jobs.replace_members(conn, alliance_id, members, facts())


async def corporation(conn: AsyncConnection, corporation_id: int, name: str, ticker: str,
                      **more: Any) -> None:
    """Store a corporation (`more`: any Corporation field, e.g. alliance_id, ceo_id, description, url)."""
    body: dict[str, Any] = {
        "member_count": 10, "description": "", "friendly_fire": "legal", "home_station_id": 60003760,
        "shares": 1000, "state": "active", "type": "player_owned", "war_eligible": True,
        "tax_rates": models.TaxRates(isk=0.1, loyalty_point=0.0), "date_founded": FOUNDED, **more}
    await jobs.store(conn, corporation_id, models.Corporation(name=name, ticker=ticker, **body), facts())


async def character(conn: AsyncConnection, character_id: int, name: str, corporation_id: int,
                    **more: Any) -> None:
    """Store a character (`more`: any Character field, e.g. alliance_id, description)."""
    model = models.Character(name=name, birthday="2010-01-01T00:00:00Z", bloodline_id=1, race_id=1,
                             corporation_id=corporation_id, gender="female", achievement_score=0, **more)
    await jobs.store(conn, character_id, model, facts())


@dataclass
class Hostile:
    """Where the hostile strings went: each one's text and the page that shows it.

    `shown_on` texts are shown as written (names, tickers, URLs, changed values); `described_on`
    ones are EVE markup rendered by markup.render (descriptions, and titles inline).
    """

    shown_on: dict[str, list[str]] = field(default_factory=dict)
    described_on: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)

    def add(self, url: str, *texts: str | None) -> None:
        """Record that `url` shows each of `texts`."""
        self.shown_on.setdefault(url, []).extend(t for t in texts if t)

    def describe(self, url: str, source: str | None, *, inline: bool = False) -> None:
        """Record that `url` renders the markup `source` (inline: as a title)."""
        if source:
            self.described_on.setdefault(url, []).append((source, inline))


async def hostile(conn: AsyncConnection, first_id: int = 0) -> Hostile:
    """One alliance, corporation and character for each hostile string of the simulator, and more."""
    placed = Hostile()
    names = (*strings.HOSTILE_NAMES, *PWNED)
    texts = (*strings.HOSTILE_TEXTS, *PWNED, strings.long_text(random.Random(7), 9000))
    tickers = (*strings.HOSTILE_TICKERS, *PWNED)
    for n, name in enumerate(names):
        a, c, p = 99_100_000 + first_id + n, 98_100_000 + first_id + n, 90_100_000 + first_id + n
        ticker, text = tickers[n % len(tickers)], texts[n % len(texts)]
        url = ("javascript:alert(1)", "http://", "https://例え.jp/パス?q=\"x\"", PWNED[5])[n % 4]
        await alliance(conn, a, name, ticker, creator_id=p, creator_corporation_id=c, executor=c, members=[c])
        await corporation(conn, c, name, ticker, alliance_id=a, ceo_id=p, creator_id=p, description=text,
                          url=url, palette=models.Palette(main_color=name))
        await character(conn, p, name, c, alliance_id=a, description=texts[-1 - n % len(texts)],
                        corporation_title=name)
        await changes.record(conn, [Change("corporation", c, "name", text, name)])
        placed.add(f"/alliances/{a}", name, ticker)
        placed.add(f"/corporations/{c}", name, ticker, text, url)  # `text` also as a changed name
        placed.describe(f"/corporations/{c}", text)
        placed.describe(f"/corporations/{c}", name, inline=True)  # its character's title
        placed.add(f"/characters/{p}", name)
        placed.describe(f"/characters/{p}", texts[-1 - n % len(texts)])
        placed.describe(f"/characters/{p}", name, inline=True)
    return placed


BIG_ALLIANCE = 99_000_050
BIG_MEMBERS = range(98_500_000, 98_500_250)


async def scenario(conn: AsyncConnection) -> None:
    """A small known universe: links, a member not in the copy, a deleted character, changes, search bait."""
    await alliance(conn, 99000001, "Goonswarm Federation", "CONDI", creator_id=90000001,
                   creator_corporation_id=98000001, executor=98000001,
                   members=[98000001, 98000002, 98000003, 98000404])
    await alliance(conn, 99000002, "Test Alliance Please Ignore", "TEST", creator_id=90000003,
                   creator_corporation_id=98000010, executor=98000010, members=[98000010])
    await alliance(conn, 99000003, "Testy Tester Coalition", "TESTY", creator_id=90000003,
                   creator_corporation_id=98000011, members=[])
    await corporation(conn, 98000001, "GoonWaffe", "GEWNS", alliance_id=99000001, ceo_id=90000001,
                      creator_id=90000001, member_count=5000, url="https://example.com/goons")
    await corporation(conn, 98000002, "KarmaFleet", "KFLT", alliance_id=99000001, ceo_id=90000001,
                      member_count=7000)
    await corporation(conn, 98000003, 'Pilot\'s "Corp"', "P'C", alliance_id=99000001, member_count=10)
    await corporation(conn, 98000010, "Dreddit", "B0SS", alliance_id=99000002, ceo_id=90000003)
    await corporation(conn, 98000011, "Test", "T3ST", ceo_id=1, state="closed", member_count=0)
    await corporation(conn, 98000012, "Contest Winners", "CW", ceo_id=3000001)
    await character(conn, 90000001, "The Mittani", 98000001, alliance_id=99000001, corporation_title="CEO")
    await character(conn, 90000002, "Vile Rat", 98000001, alliance_id=99000001)
    await character(conn, 90000003, "Test Pilot", 1000167, description="Flies <b>safe</b>")
    await conn.execute(t.character_tombstones.insert().values(
        id=90000002, deleted_seen_at=dt.datetime.now(dt.UTC), reason="Character has been deleted!"))
    await changes.record(conn, [
        Change("alliance", 99000001, "executor_corporation_id", 98000002, 98000001),
        Change("corporation", 98000001, "name", "Goon Waffe", "GoonWaffe"),
        Change("character", 90000001, "corporation_id", 98000002, 98000001)])
    await big_alliance(conn, BIG_ALLIANCE, BIG_MEMBERS)


async def big_alliance(conn: AsyncConnection, alliance_id: int, members: Sequence[int]) -> None:
    """An alliance with every one of `members` stored as a corporation."""
    await alliance(conn, alliance_id, f"Big Alliance {alliance_id}", "BIG", creator_id=90000001,
                   creator_corporation_id=members[0], executor=members[0], members=members)
    for n, corporation_id in enumerate(members):
        await corporation(conn, corporation_id, f"Member Corp {n:04d}", f"M{n:04d}"[:5],
                          alliance_id=alliance_id, member_count=1 + n % 97, ceo_id=90000001)


# EVE's own markup as players write it, with hostile strings among it: tests/web/test_markup_pages.py
# checks what Chromium makes of each piece.
MARKED_ALLIANCE, MARKED_CORPORATION, MARKED_CHARACTER = 99_300_001, 98_300_001, 90_300_001
WRAPPED_CORPORATION, LONG_CORPORATION = 98_300_002, 98_300_003
MARKED_DESCRIPTION = "".join((
    '<font size="24" color="#ffff0000">Big red</font><br>',
    "<b>bold</b> <i>italic</i> <u>under</u> <color=0xff00ff00>green</color><br>",
    '<a href="showinfo:1377//90000001">The Mittani</a> <url=showinfo:16159//99000001>Goonswarm</url> ',
    '<a href="showinfo:2//98000001">GoonWaffe</a> <a href="showinfo:587//123456">Rifter</a><br>',
    "<url=https://example.com/recruit?a=1&amp;b=2>recruiting</url> ",
    '<a href="javascript:window.__pwned=6">js link</a> <url=javascript:window.__pwned=7>js url</url><br>',
    '<font color="red;background:url(http://127.0.0.2/x)">css</font> &lt;b&gt;not bold&lt;/b&gt;<br>',
    '<script>window.__pwned=9</script> <img src=x onerror="window.__pwned=10"> ',
    '<div onclick="window.__pwned=11">div</div><br>',
    "\u202eright to left\u202c <loc>localized</loc><br>",
    "<b>unclosed <i>misnested</b> tail</i> <u>open to the end",
))
MARKED_TITLE = "<b>Director</b> of <color=0xffff0000>Pain</color><br><script>window.__pwned=12</script>"
# How ESI has handed over some old descriptions: a Python literal with \\u escapes.
WRAPPED_DESCRIPTION = ("u'\\u041f\\u0440\\u0438\\u0432\\u0435\\u0442 "
                       "<b>\\u0434\\u0440\\u0443\\u0437\\u044c\\u044f</b>'")


async def markup(conn: AsyncConnection) -> None:
    """An alliance, corporations and a character whose descriptions and title are EVE markup."""
    await alliance(conn, MARKED_ALLIANCE, "Markup Alliance", "MARK", creator_id=MARKED_CHARACTER,
                   creator_corporation_id=MARKED_CORPORATION, executor=MARKED_CORPORATION,
                   members=[MARKED_CORPORATION, WRAPPED_CORPORATION, LONG_CORPORATION])
    await corporation(conn, MARKED_CORPORATION, "Markup Corp", "MKUP", alliance_id=MARKED_ALLIANCE,
                      ceo_id=MARKED_CHARACTER, description=MARKED_DESCRIPTION)
    await corporation(conn, WRAPPED_CORPORATION, "Wrapped Corp", "WRAP", alliance_id=MARKED_ALLIANCE,
                      description=WRAPPED_DESCRIPTION)
    await corporation(conn, LONG_CORPORATION, "Long Corp", "LONG", alliance_id=MARKED_ALLIANCE,
                      description=strings.long_text(random.Random(11), 9000))
    await character(conn, MARKED_CHARACTER, "Markup Pilot", MARKED_CORPORATION, alliance_id=MARKED_ALLIANCE,
                    description=MARKED_DESCRIPTION, corporation_title=MARKED_TITLE)
    await changes.record(conn, [
        Change("corporation", MARKED_CORPORATION, "description",
               "<i>We were</i> <url=showinfo:2//98000001>elsewhere</url>", "<b>now here</b>"),
        Change("character", MARKED_CHARACTER, "corporation_title", "<u>Recruit</u><br>x", MARKED_TITLE)])
