"""The generated universe: deterministic, shaped like the real one, with the awkward cases real data has."""

from __future__ import annotations

import statistics

import pytest

from killreport.sim.model import Universe
from killreport.sim.options import SimOptions, default_deleted
from killreport.sim.strings import HOSTILE_TEXTS
from killreport.sim.truth import referenced_characters, truth
from killreport.sim.universe import generate, referenced_corporations


@pytest.fixture(scope="module")
def full() -> Universe:
    return generate(1, 3550, 150)


def test_deterministic_from_seed() -> None:
    assert truth(generate(5, 20, 2)) == truth(generate(5, 20, 2))
    assert truth(generate(5, 20, 2)) != truth(generate(6, 20, 2))


def test_default_deleted_scales() -> None:
    assert SimOptions().deleted_count == 150
    assert default_deleted(355) == 15 and default_deleted(30) == 1 and default_deleted(0) == 0
    assert SimOptions(alliances=30, deleted_characters=7).deleted_count == 7


def test_shape(full: Universe) -> None:
    listed = full.active_alliance_ids()
    sizes = [len(full.alliances[a].members) for a in listed]
    assert len(listed) == 3550
    assert 4.5 <= statistics.mean(sizes) <= 5.5
    assert statistics.median(sizes) <= 5 and max(sizes) >= 100
    assert sum(1 for s in sizes if s <= 5) > 0.7 * len(sizes)
    for corp in full.corporations.values():
        if not corp.closed:
            assert (
                full.characters[corp.ceo_id].corporation_id == corp.id or full.characters[corp.ceo_id].deleted
            )
    same = sum(1 for c in full.corporations.values() if c.ceo_id == c.creator_id)
    assert 0.3 < same / len(full.corporations) < 0.6


def test_id_ranges(full: Universe) -> None:
    def ok(value: int, *ranges: tuple[int, int]) -> bool:
        return any(lo <= value < hi for lo, hi in ranges)

    shared = (100_000_000, 2_100_000_000)
    assert all(ok(a, (99_000_000, 100_000_000), shared) for a in full.alliances)
    for corp in full.corporations.values():
        assert (
            ok(corp.id, (1_000_000, 2_000_000)) if corp.npc else ok(corp.id, (98_000_000, 99_000_000), shared)
        )
    for char in full.characters.values():
        expected = (
            [(3_000_000, 4_000_000)]
            if char.npc
            else [(90_000_000, 98_000_000), shared, (2_100_000_000, 2_130_000_000)]
        )
        assert ok(char.id, *expected)
    assert any(shared[0] <= a < shared[1] for a in full.alliances)
    assert any(c >= 2_100_000_000 for c in full.characters)


def test_awkward_cases(full: Universe) -> None:
    listed = [full.alliances[a] for a in full.active_alliance_ids()]
    assert any(not a.members and a.executor_corporation_id is None for a in listed)
    creators = [full.corporations[a.creator_corporation_id] for a in listed]
    assert any(c.alliance_id is None and not c.closed for c in creators)
    closed = [c for c in creators if c.closed]
    assert closed and all(c.member_count == 0 and c.ceo_id == 1 for c in closed)
    assert any(c.alliance_id not in (None, a.id) for a, c in zip(listed, creators, strict=True))
    npc_corps = {c.id for c in full.corporations.values() if c.npc}
    assert any(
        ch.corporation_id in npc_corps and not ch.npc and not ch.deleted for ch in full.characters.values()
    )
    referenced = referenced_characters(full)
    deleted = {c for c in referenced if full.characters[c].deleted}
    assert len(deleted) == 150
    corps = [full.corporations[c] for c in referenced_corporations(full)]
    assert any(c.ceo_id in deleted for c in corps) and any(c.creator_id in deleted for c in corps)


def test_hostile_strings(full: Universe) -> None:
    texts = [c.description or "" for c in full.corporations.values()] + [
        c.name for c in full.corporations.values()
    ]
    texts += [ch.description or "" for ch in full.characters.values()] + [
        a.name for a in full.alliances.values()
    ]
    joined = "\n".join(texts)
    for needle in ('"', "\\", "<font", "🚀", "联盟", "\t", "\n", "DROP TABLE", "'"):
        assert needle in joined, needle
    assert "" in texts and max(len(t) for t in texts) >= 3000
    assert any(t in texts for t in HOSTILE_TEXTS if t)
