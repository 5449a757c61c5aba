"""The pure rules of a job: what to request, what changed, and the same children from a fetched model
and from the stored references."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from killreport.changes import Change
from killreport.domain import models
from killreport.esi.validate import validate
from killreport.store import rows
from killreport.store.entities import Stored
from killreport.store.references import AllianceReferences, CorporationReferences
from killreport.sync.plan import (
    Children,
    Request,
    children_of,
    deletion_changes,
    detail_changes,
    hold_until,
    member_changes,
    requests_for,
)

ALLIANCE: dict[str, Any] = {"name": "A", "ticker": "A", "date_founded": "2015-05-05T00:00:00Z"}
CORPORATION: dict[str, Any] = {
    "name": "C", "ticker": "C", "member_count": 3, "description": "", "friendly_fire": "legal",
    "home_station_id": 60000001, "shares": 1, "state": "active", "type": "player_owned",
    "war_eligible": True, "tax_rates": {"isk": 0.1, "loyalty_point": 0.5}}
# Player ids, and the ids that name no player entity (system, NPC, faction) or are invalid.
IDS = st.one_of(st.integers(90_000_000, 2_200_000_000),
                st.sampled_from([1, 500_001, 1_000_001, 3_000_001, 0]))


def alliance(**ids: int | None) -> models.Alliance:
    body = {**ALLIANCE, **{k: v for k, v in ids.items() if v is not None}}
    return validate(models.Alliance, json.dumps(body).encode(), "/x")


def corporation(**ids: int | None) -> models.Corporation:
    body = {**CORPORATION, **{k: v for k, v in ids.items() if v is not None}}
    return validate(models.Corporation, json.dumps(body).encode(), "/x")


def test_an_alliance_leads_to_members_creator_executor_and_its_creator_character() -> None:
    got = children_of(alliance(creator_id=90000001, creator_corporation_id=98000001,
                               executor_corporation_id=98000002), [98000003, 1000001])
    assert got == Children(corporations=frozenset({98000001, 98000002, 98000003}),
                           characters=frozenset({90000001}))


def test_a_corporation_leads_to_its_ceo_and_creator_never_to_npcs() -> None:
    got = children_of(corporation(ceo_id=3000001, creator_id=90000002))
    assert got == Children(characters=frozenset({90000002}))


def test_characters_and_nothing_lead_nowhere() -> None:
    character = {"name": "P", "birthday": "2010-01-01T00:00:00Z", "bloodline_id": 1, "race_id": 1,
                 "corporation_id": 98000001, "gender": "female", "achievement_score": 1}
    assert children_of(validate(models.Character, json.dumps(character).encode(), "/x")) == Children()
    assert children_of(None, [98000001]) == Children()


@given(IDS, IDS, st.none() | IDS, st.lists(IDS, max_size=5))
def test_stored_alliance_references_lead_where_the_model_does(
        creator: int, creator_corp: int, executor: int | None, members: list[int]) -> None:
    model = alliance(creator_id=creator, creator_corporation_id=creator_corp,
                     executor_corporation_id=executor)
    stored = AllianceReferences(creator_id=creator, creator_corporation_id=creator_corp,
                                executor_corporation_id=executor)
    assert children_of(model, members) == children_of(stored, members)


@given(st.none() | IDS, st.none() | IDS)
def test_stored_corporation_references_lead_where_the_model_does(
        ceo: int | None, creator: int | None) -> None:
    stored = CorporationReferences(ceo_id=ceo, creator_id=creator)
    assert children_of(corporation(ceo_id=ceo, creator_id=creator)) == children_of(stored)


STORED_ROW = rows.row_of(corporation(ceo_id=90000001, creator_id=90000002))


def test_only_expired_resources_are_requested_with_the_stored_etag() -> None:
    assert requests_for("character", Stored(fresh=False)) == (Request("detail", None),)
    assert requests_for("character", Stored(fresh=True)) == ()
    assert requests_for("character", Stored(fresh=False, tombstoned=True)) == ()
    stale = Stored(fresh=False, row=STORED_ROW, etag='"e"')
    assert requests_for("corporation", stale) == (Request("detail", '"e"'),)
    assert requests_for("alliance", Stored(fresh=False)) == (Request("detail"), Request("members"))
    half = Stored(fresh=True, row={}, etag='"a"', members=(1,), members_etag='"m"', members_fresh=False)
    assert requests_for("alliance", half) == (Request("members", '"m"'),)
    assert requests_for("alliance", Stored(fresh=False, row={}, etag='"a"', members_fresh=True)) == (
        Request("detail", '"a"'),)


def test_a_first_sighting_changes_nothing_and_a_new_answer_changes_what_differs() -> None:
    new = corporation(ceo_id=90000003, creator_id=90000002)
    assert detail_changes("corporation", 98000001, Stored(fresh=False), new) == []
    stored = Stored(fresh=False, row=STORED_ROW)
    assert detail_changes("corporation", 98000001, stored, new) == [
        Change("corporation", 98000001, "ceo_id", 90000001, 90000003)]
    assert detail_changes("corporation", 98000001, stored, corporation(ceo_id=90000001,
                                                                       creator_id=90000002)) == []


def test_member_lists_and_deletions_change_only_against_a_stored_copy() -> None:
    assert member_changes(99000001, Stored(fresh=False, row={}), [98000001]) == []
    stored = Stored(fresh=False, row={}, members=(98000002, 98000001))
    assert member_changes(99000001, stored, [98000001, 98000002]) == []
    assert member_changes(99000001, stored, []) == [
        Change("alliance", 99000001, "corporations", [98000001, 98000002], [])]
    assert deletion_changes(90000001, Stored(fresh=False)) == []
    assert deletion_changes(90000001, Stored(fresh=False, row={"name": "x"})) == [
        Change("character", 90000001, "deleted", False, True)]


def test_a_failed_job_holds_its_claim_until_a_future_expires_only() -> None:
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    assert hold_until(None, now) is None
    assert hold_until(now - dt.timedelta(seconds=1), now) is None
    assert hold_until(now + dt.timedelta(seconds=1), now) == now + dt.timedelta(seconds=1)
