"""The pure parts of `killreport lookup` and `POST /api/lookup`: kinds from ids, bounds, bodies, answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from killreport.cli.errors import UsageError
from killreport.cli.lookup_cmd import parse_ids
from killreport.ids import KINDS, MAX_ID, is_special
from killreport.lookup import (
    MAX_IDS,
    Answer,
    LookupRefused,
    Report,
    bounded_ids,
    bounded_wait,
    classify,
    parse_request,
)


@pytest.mark.parametrize(("entity_id", "kind", "status"), [
    (90_000_000, "character", None), (97_999_999, "character", None),
    (98_000_000, "corporation", None), (98_999_999, "corporation", None),
    (99_000_000, "alliance", None), (99_999_999, "alliance", None),
    (2_100_000_000, "character", None), (2_130_000_005, "character", None), (2**31 - 1, "character", None),
    (100_000_000, None, "ambiguous"), (2_099_999_999, None, "ambiguous"),
    (1, None, "npc"), (1_000_001, "corporation", "npc"), (1_999_999, "corporation", "npc"),
    (3_000_001, "character", "npc"), (500_001, None, "faction"),
    (0, None, "invalid"), (-5, None, "invalid"), (MAX_ID + 1, None, "invalid"),
    (2, None, "invalid"), (30_000_142, None, "invalid"), (60_003_760, None, "invalid"),
    (89_999_999, None, "invalid"), (2**31, None, "invalid"), (1_000_000_000_000, None, "invalid"),
])
def test_ranges_tell_kinds_and_what_is_never_fetched(entity_id: int, kind: str | None,
                                                     status: str | None) -> None:
    got = classify(entity_id)
    assert (got.kind, got.status) == (kind, status)
    assert (got.reason is None) == (status is None)  # everything answered at once says why


@given(st.integers(min_value=-(2**64), max_value=2**64))
def test_an_id_given_a_kind_to_fetch_is_one_the_esi_client_would_request(entity_id: int) -> None:
    got = classify(entity_id)
    if got.status is None:
        assert got.kind is not None and not is_special(got.kind, entity_id)
    elif got.status in ("npc", "faction"):
        assert all(is_special(k, entity_id) for k in ([got.kind] if got.kind else KINDS))


def test_ids_are_kept_once_in_order_and_bounded() -> None:
    assert bounded_ids([3, 1, 3, 2, 1]) == [3, 1, 2]
    assert bounded_ids([7] * (MAX_IDS + 5)) == [7]
    assert len(bounded_ids(list(range(MAX_IDS)))) == MAX_IDS
    with pytest.raises(LookupRefused, match="at least one id"):
        bounded_ids([])
    with pytest.raises(LookupRefused, match=f"at most {MAX_IDS} ids per lookup, got {MAX_IDS + 1}"):
        bounded_ids(list(range(MAX_IDS + 1)))


def test_the_wait_is_bounded() -> None:
    assert bounded_wait(0) == 0.0 and bounded_wait(120) == 120.0
    for wrong in (-1, 120.5):
        with pytest.raises(LookupRefused, match="from 0 to 120 s"):
            bounded_wait(wrong)
    with pytest.raises(LookupRefused, match="from 0 to 10 s, got 11"):
        bounded_wait(11, 10)


def test_a_body_is_a_list_or_an_object_with_ids_and_a_wait() -> None:
    assert parse_request([90000001, 90000001, 5], default_wait_s=5, max_wait_s=10) == ([90000001, 5], 5.0)
    assert parse_request({"ids": [1], "wait_s": 0.5}, default_wait_s=5, max_wait_s=10) == ([1], 0.5)
    assert parse_request({"ids": [-3]}, default_wait_s=5, max_wait_s=10) == ([-3], 5.0)


@pytest.mark.parametrize(("body", "message"), [
    ({"id": [1]}, "unknown field 'id'"),
    ({"wait_s": 1}, "names no ids"),
    ("90000001", "expected a JSON list of ids"),
    (None, "expected a JSON list of ids"),
    ({"ids": "1,2"}, "expected a JSON list of ids"),
    ([1, "2"], r"ids\[1\] is not an integer id"),
    ([1.5], r"ids\[0\] is not an integer id"),
    ([True], r"ids\[0\] is not an integer id"),
    ([], "at least one id"),
    (list(range(MAX_IDS + 1)), "at most 100 ids"),
    ({"ids": [1], "wait_s": "5"}, "wait_s must be a number"),
    ({"ids": [1], "wait_s": True}, "wait_s must be a number"),
    ({"ids": [1], "wait_s": 11}, "from 0 to 10 s"),
])
def test_a_bad_body_is_refused_with_its_reason(body: object, message: str) -> None:
    with pytest.raises(LookupRefused, match=message):
        parse_request(body, default_wait_s=5, max_wait_s=10)


def test_command_line_ids_are_numbers() -> None:
    assert parse_ids(["90000001", "-1", "007"]) == [90000001, -1, 7]
    with pytest.raises(UsageError, match="'abc' is not a numeric id"):
        parse_ids(["1", "abc"])


def test_a_report_groups_the_ids_by_status_in_the_order_asked() -> None:
    held = Answer(99000001, "held", "alliance", None, {"name": "A", "ticker": "T"})
    answers = [Answer(2, "invalid", None, "why"), held, Answer(90000002, "pending", "character", "queued"),
               Answer(90000003, "unknown", "character", "none"), Answer(3, "invalid", None, "why"),
               Answer(100_000_001, "ambiguous", None, "old")]
    shown = Report(answers, 1.23456, queued=2).as_json()
    assert shown["ids"][1] == {"id": 99000001, "status": "held", "kind": "alliance", "reason": None,
                               "name": "A", "ticker": "T"}
    assert [a["id"] for a in shown["ids"]] == [a.id for a in answers]
    assert (shown["pending"], shown["unknown"], shown["invalid"], shown["ambiguous"]) == (
        [90000002], [90000003], [2, 3], [100_000_001])
    assert (shown["queued"], shown["waited_s"]) == (2, 1.235)
