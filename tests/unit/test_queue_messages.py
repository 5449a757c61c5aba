"""The job message: exact encoding, precise rejection reasons, and decode's error contract."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from killreport.ids import KINDS, MAX_ID
from killreport.queue.messages import MAX_BODY_BYTES, Job, MessageError, decode, encode

jobs = st.builds(
    Job,
    kind=st.sampled_from(KINDS),
    id=st.integers(min_value=1, max_value=MAX_ID),
    attempt=st.integers(min_value=0, max_value=10_000),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


def test_encode_is_compact_versioned_json() -> None:
    assert encode(Job("alliance", 99000001)) == b'{"v":1,"kind":"alliance","id":99000001,"attempt":0}'


@given(jobs)
def test_round_trip(job: Job) -> None:
    assert decode(encode(job)) == job


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_message_error(body: bytes) -> None:
    try:
        decode(body)
    except MessageError as exc:
        assert exc.reason


@given(json_values)
def test_arbitrary_json_raises_only_message_error(value: object) -> None:
    try:
        decode(json.dumps(value).encode())
    except MessageError as exc:
        assert exc.reason


@given(jobs, st.sampled_from(["v", "kind", "id", "attempt"]), json_values)
def test_any_field_replaced_by_any_json_decodes_or_says_why(job: Job, field: str, value: object) -> None:
    data = json.loads(encode(job)) | {field: value}
    try:
        assert decode(json.dumps(data).encode()).id >= 1
    except MessageError as exc:
        assert exc.reason


def _body(**changes: object) -> bytes:
    data: dict[str, object] = {"v": 1, "kind": "character", "id": 90000001, "attempt": 2}
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "body is not UTF-8: invalid start byte at byte 0"),
        (b"{nope", "body is not JSON: Expecting property name enclosed in double quotes"),
        (b"", "body is not JSON: Expecting value"),
        (b"[1, 2]", "body is JSON array, expected an object"),
        (b"null", "body is JSON null, expected an object"),
        (b"[" * 100_000, f"body is 100000 bytes; a job is at most {MAX_BODY_BYTES}"),
        (b"[" * 4000, "body is not JSON: nested too deeply"),
        (_body(kind=...), "missing field 'kind'"),
        (_body(attempt=...), "missing field 'attempt'"),
        (_body(v=...), "missing field 'v'"),
        (_body(extra=1, more=2), "unexpected field(s) 'extra', 'more'"),
        (_body(v=2), "unsupported message version 2; expected 1"),
        (_body(v="1"), "field 'v' must be an integer, got string"),
        (_body(kind=7), "field 'kind' must be a string, got integer"),
        (_body(kind="faction"), "unknown kind 'faction'; expected one of alliance, corporation, character"),
        (_body(id=True), "field 'id' must be an integer, got boolean"),
        (_body(id=1.0), "field 'id' must be an integer, got number"),
        (_body(id="90000001"), "field 'id' must be an integer, got string"),
        (_body(id=None), "field 'id' must be an integer, got null"),
        (_body(id=0), f"id 0 is out of range 1..{MAX_ID}"),
        (_body(id=-5), f"id -5 is out of range 1..{MAX_ID}"),
        (_body(id=MAX_ID + 1), f"id {MAX_ID + 1} is out of range 1..{MAX_ID}"),
        (_body(attempt=False), "field 'attempt' must be an integer, got boolean"),
        (_body(attempt=-1), "attempt must be >= 0, got -1"),
    ],
)
def test_rejections_say_precisely_why(body: bytes, reason: str) -> None:
    with pytest.raises(MessageError) as caught:
        decode(body)
    assert caught.value.reason.startswith(reason)
    assert str(caught.value) == caught.value.reason


def test_largest_id_is_accepted() -> None:
    assert decode(_body(id=MAX_ID)).id == MAX_ID


def test_job_refuses_invalid_fields() -> None:
    with pytest.raises(MessageError, match="out of range"):
        Job("alliance", 0)
    with pytest.raises(MessageError, match="unknown kind"):
        Job("faction", 1)  # type: ignore[arg-type]
    with pytest.raises(MessageError, match="must be an integer"):
        Job("alliance", True)


def test_message_error_is_a_value_error() -> None:
    assert issubclass(MessageError, ValueError)
