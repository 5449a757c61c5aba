"""A day file located rather than built: for any object of killmail ids, written any way JSON allows,
each span holds exactly its member's value; anything that is not such an object is a MalformedBody."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from killreport.r2z2.errors import MalformedBody
from killreport.r2z2.raw import members, scan

_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                     max_size=3),
                       max_leaves=8)


@given(st.dictionaries(st.integers(1, 2**63 - 1), _VALUES, max_size=12), st.sampled_from([None, 2]),
       st.booleans())
def test_every_member_s_span_holds_its_value(day: dict[int, Any], indent: int | None,
                                            ascii_only: bool) -> None:
    text = json.dumps({str(k): v for k, v in day.items()}, indent=indent, ensure_ascii=ascii_only)
    spans = members(text, "u")
    assert sorted(spans) == sorted(day)
    assert {k: json.loads(text[a:b]) for k, (a, b) in spans.items()} == day


@given(st.binary(max_size=40))
def test_any_bytes_are_located_or_one_malformed_body(body: bytes) -> None:
    try:
        found = scan(body, "u")
    except MalformedBody as exc:
        assert exc.status == 200 and len(str(exc)) < 300
        return
    parsed = json.loads(body)
    assert isinstance(parsed, dict) and sorted(found.spans) == sorted(int(k) for k in parsed)


@pytest.mark.parametrize("key", ["0", str(2**63), "9" * 19, "00"])
def test_a_key_outside_killmail_ids_is_malformed(key: str) -> None:
    with pytest.raises(MalformedBody, match="not a killmail id"):
        scan(b'{"%s": {}}' % key.encode(), "u")


def test_the_killmail_of_an_id_not_in_the_file_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        scan(b'{"1": {}}', "u").killmail(2)
