"""The two history routes in the client: their strict models against CCP's schema subset, the paths and
route templates the budget sees, ETags, and a 429 without any header (the hidden limit) handled as a
throttle and an error, never a crash."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from killreport.budget.memory import MemoryBudget
from killreport.domain import models
from killreport.domain.budget_rules import Limits
from killreport.domain.cache import Fetched, NotModified
from killreport.domain.routes import ALLIANCE_HISTORY, CORPORATION_HISTORY
from killreport.esi.classify import classify, observe
from killreport.esi.client import route_of
from killreport.esi.errors import Deleted, MalformedResponse, PermanentError
from killreport.esi.validate import validate
from tests.rules import NO_DOWNTIME
from tests.unit.test_esi_client import RecordingBudget, answers, client

SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "esi-openapi-subset.json"
MODELS: dict[str, type[BaseModel]] = {
    "CharactersCharacterIdCorporationhistoryGet_inner": models.CorporationHistoryRecord,
    "CorporationsCorporationIdAlliancehistoryGet_inner": models.AllianceHistoryRecord}
ROWS = [{"record_id": 9, "start_date": "2024-02-01T10:00:00Z", "corporation_id": 98000002},
        {"record_id": 4, "start_date": "2019-01-01T00:00:00Z", "corporation_id": 98000001,
         "is_deleted": True}]
HEADERS = {"expires": "Sat, 28 Nov 2026 15:39:56 GMT", "etag": '"h1"', "x-esi-error-limit-remain": "99",
           "x-esi-error-limit-reset": "30"}


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        pytest.fail(f"{SPEC_PATH} not present")
    return dict(json.loads(SPEC_PATH.read_text())["components"]["schemas"])


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


@pytest.mark.parametrize("name", MODELS)
def test_models_match_the_schema_fields(schemas: dict[str, Any], name: str) -> None:
    schema, model = schemas[name], MODELS[name]
    assert {f for f, info in model.model_fields.items() if info.is_required()} == set(schema["required"])
    assert set(model.model_fields) == set(schema["properties"])
    got = validate(model, body(schema["example"]), "/x")
    assert got.model_dump() == schema["example"]
    for field in schema["properties"]:
        trimmed = {k: v for k, v in schema["example"].items() if k != field}
        if field in schema["required"]:
            with pytest.raises(MalformedResponse):
                validate(model, body(trimmed), "/x")
        else:
            validate(model, body(trimmed), "/x")


def test_the_list_routes_validate_as_lists_of_these_models(schemas: dict[str, Any]) -> None:
    adapters: dict[str, TypeAdapter[Any]] = {
        "CharactersCharacterIdCorporationhistoryGet": models.CorporationHistory,
        "CorporationsCorporationIdAlliancehistoryGet": models.AllianceHistory}
    for route, adapter in adapters.items():
        inner = route + "_inner"
        assert schemas[route] == {"items": {"$ref": f"#/components/schemas/{inner}"}, "type": "array"}
        got = validate(adapter, body([schemas[inner]["example"]] * 2), "/x")
        assert len(got) == 2 and all(isinstance(r, MODELS[inner]) for r in got)
        with pytest.raises(MalformedResponse):
            validate(adapter, body(schemas[inner]["example"]), "/x")  # an object, not a list


@pytest.mark.parametrize("bad", [
    {"record_id": "9", "start_date": "2024-02-01T10:00:00Z", "corporation_id": 1},
    {"record_id": 9, "start_date": "2024-02-01T10:00:00Z", "corporation_id": 1.0},
    {"record_id": 9, "start_date": "2024-02-01T10:00:00Z", "corporation_id": 1, "is_deleted": "true"},
    {"record_id": 9, "start_date": "yesterday", "corporation_id": 1},
    {"record_id": 9, "start_date": 1700000000, "corporation_id": 1},
    {"record_id": 2**63, "start_date": "2024-02-01T10:00:00Z", "corporation_id": 1},
])
def test_strict_records(bad: dict[str, Any]) -> None:
    with pytest.raises(MalformedResponse):
        validate(models.CorporationHistory, body([bad]), "/characters/1/corporationhistory")


def test_unknown_fields_ignored_and_a_period_outside_any_alliance_has_no_alliance() -> None:
    got = validate(models.AllianceHistory, body([{"record_id": 1, "start_date": "2020-01-01T00:00:00Z",
                                                  "new_field": [1]}]), "/x")
    assert got == [models.AllianceHistoryRecord(record_id=1, start_date="2020-01-01T00:00:00Z")]
    assert got[0].alliance_id is None and got[0].is_deleted is None


async def test_paths_route_templates_and_etags() -> None:
    transport, seen = answers((200, ROWS, HEADERS), (304, b"", {"expires": HEADERS["expires"]}),
                              (200, [{"record_id": 1, "start_date": "2020-01-01T00:00:00Z"}], HEADERS))
    budget = RecordingBudget()
    esi = client(transport, budget)
    first = await esi.corporation_history(90000001)
    assert isinstance(first, Fetched) and first.etag == '"h1"' and first.expires_at is not None
    assert [r.record_id for r in first.data] == [9, 4] and first.data[1].is_deleted is True
    again = await esi.corporation_history(90000001, etag='"h1"')
    assert isinstance(again, NotModified) and again.expires_at == first.expires_at
    corp = await esi.alliance_history(98000001)
    assert isinstance(corp, Fetched) and corp.data[0].alliance_id is None
    assert [r.url for r in seen] == ["http://esi.test/characters/90000001/corporationhistory"] * 2 + [
        "http://esi.test/corporations/98000001/alliancehistory"]
    assert seen[1].headers["If-None-Match"] == '"h1"'
    assert budget.reserved == [CORPORATION_HISTORY, CORPORATION_HISTORY, ALLIANCE_HISTORY]
    assert route_of(CORPORATION_HISTORY.format(id=5)) == CORPORATION_HISTORY


async def test_special_ids_are_never_asked_and_a_deleted_character_is_deleted() -> None:
    transport, seen = answers((404, {"error": "Character has been deleted!"}, {}))
    esi = client(transport, RecordingBudget())
    with pytest.raises(PermanentError):
        await esi.corporation_history(3_000_001)  # an NPC character
    with pytest.raises(PermanentError):
        await esi.alliance_history(1_000_002)  # an NPC corporation
    with pytest.raises(Deleted):
        await esi.corporation_history(90000001)
    assert len(seen) == 1


def test_a_429_without_any_header_is_a_throttle_and_an_error() -> None:
    for raw in (b'{"error": "Too many requests"}', b"", b"<html>429</html>"):
        assert classify(429, {}, raw).kind == "wait"
        seen = observe(429, {}, raw)
        assert seen.is_error and seen.retry_after_s is None and seen.tokens is None
        assert seen.error_remain is None and not seen.unavailable


async def test_a_429_without_any_header_pauses_the_budget_then_succeeds() -> None:
    rules = dataclasses.replace(NO_DOWNTIME, pause_429_s=0.2)  # the rules as they are, a short pause
    budget = MemoryBudget(Limits(max_inflight=4, error_floor=5, lease_ttl_s=20), rules=rules)
    transport, seen = answers((429, {"error": "Too many requests"}, {}), (200, ROWS, HEADERS))
    got = await client(transport, budget).corporation_history(90000001)  # type: ignore[arg-type]
    assert isinstance(got, Fetched) and len(got.data) == 2 and len(seen) == 2
    snapshot = await budget.snapshot()
    assert snapshot.pause_reason == "429 without a group"
