"""The pure comparison behind the changes table."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from killreport.changes import Change, diff, json_value, members_change

VALUES = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans())
ROWS = st.dictionaries(st.sampled_from(["name", "ticker", "alliance_id", "ceo_id"]), VALUES, min_size=1)


def test_a_first_sighting_is_not_a_change() -> None:
    assert diff("corporation", 1, None, {"name": "a"}) == []


@given(ROWS, ROWS)
def test_diff_names_exactly_the_fields_that_differ(old: dict[str, object], new: dict[str, object]) -> None:
    changes = diff("corporation", 7, old, new)
    assert {c.field for c in changes} == {f for f in new if old.get(f) != new[f]}
    for c in changes:
        assert (c.old, c.new) == (old.get(c.field), new[c.field]) and c.entity_id == 7


def test_values_are_json_ready() -> None:
    moment = dt.datetime(2026, 8, 18, 11, 0, tzinfo=dt.UTC)
    assert json_value(moment) == "2026-08-18T11:00:00Z"
    assert json_value((3, 1, 2)) == [1, 2, 3]
    old = {"date_founded": moment, "alliance_id": 99000001}
    new = {"date_founded": moment, "alliance_id": None}
    assert diff("corporation", 5, old, new) == [Change("corporation", 5, "alliance_id", 99000001, None)]


def test_a_member_list_is_one_change_when_it_differs() -> None:
    assert members_change(9, [3, 1], [1, 3]) == []
    assert members_change(9, None, [1]) == []
    assert members_change(9, [1, 2], [2, 4]) == [Change("alliance", 9, "corporations", [1, 2], [2, 4])]
