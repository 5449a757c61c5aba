"""The generated universe's histories: a plausible past for every corporation and character, deterministic
per seed, dated within what can be known (never before a birth or a founding, never in the future),
numbered in time order, with the quirks ESI's histories have."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from killreport.sim import schemas
from killreport.sim.model import Universe, epoch
from killreport.sim.roster import ROSTER_BASE, Roster
from killreport.sim.universe import generate

END = epoch("2026-07-15T00:00:00Z")  # the generated universe's last moment


@pytest.fixture(scope="module")
def uni() -> Universe:
    return generate(3, 400, 20)


def _founded(uni: Universe) -> dict[int, int]:
    out = {c.id: epoch(c.date_founded) for c in uni.corporations.values() if not c.npc and c.date_founded}
    out.update((a.id, epoch(a.date_founded)) for a in uni.alliances.values())
    return out


def _check_rows(rows: list[tuple[int, int, int | None]], first: int, founded: dict[int, int]) -> None:
    assert rows and rows[0][1] == first
    for (r1, t1, h1), (r2, t2, h2) in itertools.pairwise(rows):
        assert r1 < r2 and t1 <= t2 and h1 != h2  # oldest first, record ids with time, a change each
    for _, when, holder in rows:
        assert first <= when <= END
        assert holder is None or when >= founded.get(holder, 0)  # it existed then (NPC ones always)


def test_every_corporation_has_a_past_ending_where_it_is(uni: Universe) -> None:
    founded = _founded(uni)
    for corp in uni.corporations.values():
        if corp.npc:
            assert corp.alliance_history == []
            continue
        rows = corp.alliance_history
        _check_rows(rows, epoch(corp.date_founded or ""), founded)
        assert rows[0][2] is None and rows[-1][2] == corp.alliance_id  # founded outside any alliance
    longer = [c for c in uni.corporations.values() if len(c.alliance_history) > 2]
    assert len(longer) > 0.2 * len(uni.corporations)  # many have stints before the present


def test_every_character_has_a_past_and_a_deleted_one_no_move_to_doomheim(uni: Universe) -> None:
    founded = _founded(uni)
    starters = set(uni.starter_corporations)
    for char in uni.characters.values():
        if char.npc:
            continue
        rows = char.corp_history
        _check_rows(rows, epoch(char.birthday), founded)
        assert rows[0][2] in starters  # born in a starter corporation
        if char.deleted:  # its affiliation shows a starter corporation; its history does not say so
            assert rows[-1][2] != char.corporation_id or rows[-1][2] in starters
        else:
            assert rows[-1][2] == char.corporation_id
    deleted = [c for c in uni.characters.values() if c.deleted]
    assert deleted and any(c.corp_history[-1][2] not in starters for c in deleted)
    assert sum(len(c.corp_history) > 2 for c in uni.characters.values()) > 0.2 * len(uni.characters)


def test_closed_corporations_and_alliances_show_as_deleted_rows(uni: Universe) -> None:
    alliance_rows = [row for c in uni.corporations.values() for row in
                     schemas.alliance_history(uni, c.alliance_history)]
    corp_rows = [row for c in uni.characters.values() if not c.npc for row in
                 schemas.corporation_history(uni, c.corp_history)]
    closed_alliances = {a.id for a in uni.alliances.values() if a.closed}
    closed_corps = {c.id for c in uni.corporations.values() if c.closed}
    for rows, key, closed in ((alliance_rows, "alliance_id", closed_alliances),
                              (corp_rows, "corporation_id", closed_corps)):
        flagged = [r for r in rows if r.get("is_deleted")]
        assert flagged and all(r[key] in closed for r in flagged)
        assert all(r.get("is_deleted") for r in rows if r.get(key) in closed)
    assert any("alliance_id" not in r for r in alliance_rows)  # periods outside any alliance


def test_record_ids_are_unique_and_follow_start_dates(uni: Universe) -> None:
    rows = [r for c in uni.corporations.values() for r in c.alliance_history]
    rows += [r for c in uni.characters.values() for r in c.corp_history]
    assert len({r[0] for r in rows}) == len(rows)
    by_id = sorted(rows)
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(by_id))  # one increasing sequence, like ESI's


def test_deterministic_per_seed() -> None:
    def histories(u: Universe) -> Any:
        return ([c.alliance_history for _, c in sorted(u.corporations.items())],
                [c.corp_history for _, c in sorted(u.characters.items())])
    assert histories(generate(5, 20, 2)) == histories(generate(5, 20, 2))
    assert histories(generate(5, 20, 2)) != histories(generate(6, 20, 2))


def test_ordinary_pilots_join_after_their_corporation_was_founded(uni: Universe) -> None:
    roster = Roster(3, uni)
    assert uni.next_record_id >= 5_000_000_000 + 2 * roster.size  # later records come after theirs
    for k in range(0, roster.size, max(1, roster.size // 500)):
        char = roster.character(ROSTER_BASE + k)
        assert char is not None
        rows = char.corp_history
        assert rows[0][2] in uni.starter_corporations and rows[0][1] == epoch(char.birthday)
        home = uni.corporations[rows[-1][2] or 0]
        if home.date_founded and not home.npc:
            assert rows[-1][1] >= epoch(home.date_founded)
        assert all(a[0] < b[0] and a[1] <= b[1] for a, b in itertools.pairwise(rows))
