"""KillmailQueries' reads, on PostgreSQL and on SQLite: kills go in through `save`, as the feed stores them.

A kill comes back in ESI's shape (absent fields left out, attackers in ESI's order, items whole)
plus zkb as R2Z2 writes it; the export walks ids upwards, one entity's kills only when asked, each
kill once; kills and losses and the newest kills come newest first, as summary rows. Expectations
are computed from the kills saved, never written out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from killreport.domain.killmail import Kill
from killreport.ids import Kind
from killreport.store.interface import Store
from tests.kill_bodies import attacker, body, expected, kill, who, zkb

GOON = who(90_000_001, 98_000_001, 99_000_001)
MITTANI = who(90_000_002, 98_000_001, 99_000_001)
TEST = who(90_000_003, 98_000_010, 99_000_002)
LONER = who(90_000_004, 98_000_020)  # a corporation in no alliance
NPC = who(None, 1_000_125, None, 500_001)
ITEMS: list[dict[str, Any]] = [{"flag": 27, "item_type_id": 3082, "singleton": 0, "quantity_destroyed": 1},
         {"flag": 5, "item_type_id": 17366, "singleton": 0, "quantity_dropped": 2,
          "items": [{"flag": 5, "item_type_id": 34, "singleton": 0, "quantity_dropped": 1000}]}]


def full_kill() -> Kill:
    """A kill using every optional field: moon, war, items inside items, position, an NPC attacker."""
    esi = body(120_000_010, GOON, [attacker(TEST, damage=900), attacker(NPC, ship=13537, weapon=None),
                                    attacker(LONER, final=True, damage=5, security=0.0)],
               extra={"moon_id": 40_009_082, "war_id": 741_000},
               victim_extra={"items": ITEMS, "position": {"x": 1.5e11, "y": -2.25e10, "z": 3.0}})
    return kill(esi, zkb(esi, labels=["pvp", "<script>alert(1)</script>", "loc:highsec"]), sequence_id=5)


def plain_kills() -> list[Kill]:
    """Kills between the four pilots: ids 120_000_001.. with victims and final blows varying."""
    made = []
    pairs = [(GOON, [TEST]), (TEST, [GOON, MITTANI]), (MITTANI, [TEST, LONER]), (LONER, [GOON]),
             (GOON, [MITTANI, GOON]), (TEST, [LONER]), (GOON, [TEST, TEST]), (TEST, [MITTANI])]
    for n, (victim, attackers) in enumerate(pairs):
        esi = body(120_000_001 + n, victim,
                   [attacker(a, final=i == len(attackers) - 1) for i, a in enumerate(attackers)])
        made.append(kill(esi, zkb(esi, total=1000.0 * (n + 1)) if n % 3 else None))
    return made


async def save(store: Store, kills: Sequence[Kill]) -> None:
    """Keep `kills` as the feed does (the entities they name go to the pending set; not published here)."""
    async with store.begin() as conn:
        await store.killmails.save(conn, kills)


def names(k: Kill, kind: Kind) -> set[int]:
    """Who `k` names as `kind`, victim or attacker."""
    sides = [k.esi.victim, *k.esi.attackers]
    return {i for side in sides if (i := getattr(side, f"{kind}_id")) is not None}


async def test_a_kill_comes_back_in_esi_shape_with_r2z2s_zkb(store: Store) -> None:
    saved = full_kill()
    await save(store, [saved])
    async with store.connect() as conn:
        got = await store.killmails.killmail(conn, saved.killmail_id)
    assert got is not None and saved.zkb is not None
    assert got == expected(saved)
    assert [a["damage_done"] for a in got["attackers"]] == [900, 100, 5], "ESI's order, not by damage"
    assert "character_id" not in got["attackers"][1] and "weapon_type_id" not in got["attackers"][1]
    assert got["victim"]["items"][1]["items"] == ITEMS[1]["items"], "items inside items, whole"
    assert got["zkb"]["locationID"] == 40_000_001 and got["zkb"]["fittedValue"] == saved.zkb.fitted_value


async def test_zkbs_attacker_count_comes_back_only_when_zkb_sent_it(store: Store) -> None:
    esi = body(120_000_012, LONER, [attacker(GOON, final=True), attacker(NPC)])
    uncounted = kill(esi, zkb(esi, counted=False), sequence_id=9)
    await save(store, [uncounted])
    async with store.connect() as conn:
        got = await store.killmails.killmail(conn, uncounted.killmail_id)
    assert got is not None and got == expected(uncounted) and "attackerCount" not in got["zkb"]


async def test_a_kill_without_zkb_and_an_unknown_id(store: Store) -> None:
    esi = body(120_000_011, LONER, [attacker(GOON, final=True)])
    bare = kill(esi, None, source="history")
    await save(store, [bare])
    async with store.connect() as conn:
        got = await store.killmails.killmail(conn, bare.killmail_id)
        missing = await store.killmails.killmail(conn, 120_999_999)
    assert got is not None and got == expected(bare) and got["zkb"] is None
    assert "moon_id" not in got and "items" not in got["victim"] and "position" not in got["victim"]
    assert missing is None


async def test_the_export_walks_ids_upwards_from_after(store: Store) -> None:
    kills = plain_kills()
    await save(store, list(reversed(kills)))
    ids = [k.killmail_id for k in kills]
    async with store.connect() as conn:
        first = await store.killmails.export(conn, after=0, limit=3)
        rest = await store.killmails.export(conn, after=first[-1]["killmail_id"], limit=100)
        past = await store.killmails.export(conn, after=ids[-1], limit=100)
    assert [k["killmail_id"] for k in first + rest] == ids
    assert first + rest == [expected(k) for k in kills]
    assert past == []


@pytest.mark.parametrize(("kind", "entity_id"), [("character", GOON["character_id"]),
                                                 ("corporation", GOON["corporation_id"]),
                                                 ("alliance", TEST["alliance_id"]),
                                                 ("corporation", LONER["corporation_id"])])
async def test_the_export_filters_by_one_entity_each_kill_once(store: Store, kind: Kind,
                                                                entity_id: int) -> None:
    kills = plain_kills()
    await save(store, kills)
    wanted = [k for k in kills if entity_id in names(k, kind)]
    async with store.connect() as conn:
        everything = await store.killmails.export(conn, after=0, limit=100, kind=kind, entity_id=entity_id)
        paged = await store.killmails.export(conn, after=wanted[0].killmail_id, limit=2, kind=kind,
                                             entity_id=entity_id)
        nobody = await store.killmails.export(conn, after=0, limit=100, kind=kind, entity_id=12345)
    assert everything == [expected(k) for k in wanted], "victim or attacker, each kill once"
    assert paged == [expected(k) for k in wanted[1:3]]
    assert nobody == []


async def test_the_export_wants_a_kind_and_an_id_together(store: Store) -> None:
    async with store.connect() as conn:
        with pytest.raises(ValueError, match="together"):
            await store.killmails.export(conn, after=0, limit=1, kind="character")


def summary(k: Kill) -> dict[str, Any]:
    """The summary row `involving` and `recent` give for `k`."""
    blow = next((a for a in k.esi.attackers if a.final_blow), None)
    victim = k.esi.victim
    return {
        "killmail_id": k.killmail_id, "solar_system_id": k.esi.solar_system_id,
        "attacker_count": len(k.esi.attackers), "total_value": k.zkb and k.zkb.total_value,
        "points": k.zkb and k.zkb.points, "npc": k.zkb and k.zkb.npc, "solo": k.zkb and k.zkb.solo,
        "awox": k.zkb and k.zkb.awox, "labels": None if k.zkb is None else list(k.zkb.labels),
        "victim": {"ship_type_id": victim.ship_type_id, "character_id": victim.character_id,
                   "corporation_id": victim.corporation_id, "alliance_id": victim.alliance_id},
        "final_blow": None if blow is None else {
            "character_id": blow.character_id, "corporation_id": blow.corporation_id,
            "alliance_id": blow.alliance_id, "ship_type_id": blow.ship_type_id}}


def without_time(rows: list[dict[str, Any]], kills: Sequence[Kill]) -> list[dict[str, Any]]:
    """`rows` with their times checked against `kills`' and taken out."""
    by_id = {k.killmail_id: k for k in kills}
    for row in rows:
        shown = row["killmail_time"].isoformat().replace("+00:00", "Z")
        assert shown == by_id[row["killmail_id"]].esi.killmail_time
    return [{k: v for k, v in row.items() if k != "killmail_time"} for row in rows]


@pytest.mark.parametrize(("kind", "entity_id"), [("character", GOON["character_id"]),
                                                 ("corporation", GOON["corporation_id"]),
                                                 ("alliance", TEST["alliance_id"])])
@pytest.mark.parametrize("losses", [False, True], ids=["kills", "losses"])
async def test_kills_and_losses_newest_first_paged_by_before(store: Store, kind: Kind, entity_id: int,
                                                             losses: bool) -> None:
    kills = plain_kills()
    await save(store, kills)
    wanted = [k for k in reversed(kills) if _on_side(k, kind, entity_id, losses)]
    assert len(wanted) > 2, "the data has several on each side"
    async with store.connect() as conn:
        newest = await store.killmails.involving(conn, kind, entity_id, losses=losses, before=None, limit=2)
        older = await store.killmails.involving(conn, kind, entity_id, losses=losses,
                                                before=newest[-1]["killmail_id"], limit=100)
    assert without_time(newest + older, kills) == [summary(k) for k in wanted]


def _on_side(k: Kill, kind: Kind, entity_id: int, losses: bool) -> bool:
    if losses:
        return bool(getattr(k.esi.victim, f"{kind}_id") == entity_id)
    return any(getattr(a, f"{kind}_id") == entity_id for a in k.esi.attackers)


async def test_recent_kills_newest_first_without_a_final_blow_too(store: Store) -> None:
    kills = plain_kills()
    unmarked = body(120_000_100, LONER, [attacker(NPC), attacker(TEST)])
    kills.append(kill(unmarked, zkb(unmarked)))
    await save(store, kills)
    async with store.connect() as conn:
        newest = await store.killmails.recent(conn, 3)
        none = await store.killmails.recent(conn, 0)
    assert without_time(newest, kills) == [summary(k) for k in reversed(kills[-3:])]
    assert newest[0]["final_blow"] is None
    assert none == []
