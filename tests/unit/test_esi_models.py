"""The pinned 2026-08-18 schemas: the OpenAPI examples pass, required/optional match, strictness holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from killreport.domain import models
from killreport.esi.errors import MalformedResponse
from killreport.esi.validate import validate

# CCP's schema subset, kept in the repository (tests/data) so a clone anywhere is whole.
SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "esi-openapi-subset.json"
MODELS: dict[str, type[BaseModel]] = {
    "AllianceDetail": models.Alliance, "CorporationsDetail": models.Corporation,
    "CharactersDetail": models.Character}


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        pytest.fail(f"{SPEC_PATH} not present")
    return dict(json.loads(SPEC_PATH.read_text())["components"]["schemas"])


def body(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


@pytest.mark.parametrize("name", MODELS)
def test_openapi_examples_validate(schemas: dict[str, Any], name: str) -> None:
    got = validate(MODELS[name], body(schemas[name]["example"]), "/x")
    assert getattr(got, "name") == "name"


@pytest.mark.parametrize("name", MODELS)
def test_required_and_optional_fields_match_the_spec(schemas: dict[str, Any], name: str) -> None:
    schema, model = schemas[name], MODELS[name]
    required = {field for field, info in model.model_fields.items() if info.is_required()}
    assert required == set(schema["required"])
    assert set(model.model_fields) == set(schema["properties"])
    example = schema["example"]
    for field in schema["properties"]:
        trimmed = {k: v for k, v in example.items() if k != field}
        if field in schema["required"]:
            with pytest.raises(MalformedResponse):
                validate(model, body(trimmed), "/x")
        else:
            validate(model, body(trimmed), "/x")


@pytest.mark.parametrize("bad", ["123", True, 1.0, 2**63, None])
def test_ids_are_strict_int64(schemas: dict[str, Any], bad: Any) -> None:
    example = schemas["AllianceDetail"]["example"]
    with pytest.raises(MalformedResponse) as caught:
        validate(models.Alliance, body({**example, "creator_id": bad}), "/alliances/1")
    assert "creator_id" in caught.value.message and len(caught.value.message) < 250


def test_numbers_accept_ints_but_not_strings_bools_or_nan(schemas: dict[str, Any]) -> None:
    example = schemas["CorporationsDetail"]["example"]
    rates = {"isk": 0, "loyalty_point": 0.5}
    got = validate(models.Corporation, body({**example, "tax_rates": rates}), "/x")
    assert got.tax_rates.isk == 0.0
    for bad in ('"0.1"', "true", "NaN", "Infinity"):
        raw = body(example).replace(b'"isk": 10', b'"isk": ' + bad.encode())
        with pytest.raises(MalformedResponse):
            validate(models.Corporation, raw, "/x")


def test_unknown_fields_are_ignored_and_enums_enforced(schemas: dict[str, Any]) -> None:
    example = schemas["CharactersDetail"]["example"]
    validate(models.Character, body({**example, "new_field": {"x": 1}}), "/x")
    with pytest.raises(MalformedResponse):
        validate(models.Character, body({**example, "gender": "Male"}), "/x")


def test_id_lists_are_strict_and_unique() -> None:
    assert validate(models.IdList, b"[99000001, 99000002]", "/alliances") == [99000001, 99000002]
    assert validate(models.IdList, b"[]", "/alliances") == []
    for bad in (b"[1, 1]", b'["1"]', b"[1.5]", b"{}", b"null", b""):
        with pytest.raises(MalformedResponse):
            validate(models.IdList, bad, "/alliances")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_hostile_strings_are_kept_byte_for_byte(text: str) -> None:
    data = {"name": text, "ticker": text[:5], "creator_id": 90000001, "creator_corporation_id": 98000001,
            "date_founded": "2010-01-01T00:00:00Z"}
    got = validate(models.Alliance, json.dumps(data).encode(), "/x")
    assert got.name == text and got.ticker == text[:5]


@pytest.mark.parametrize("text", ["Robert'); DROP TABLE alliances;--", "<script>alert(1)</script>",
                                  "  padded  \n", "日本語 🚀", '"quoted"\\', "\u202eRTL"])
def test_known_nasty_strings(text: str) -> None:
    data = {"name": text, "ticker": "T", "creator_id": 1, "creator_corporation_id": 2,
            "date_founded": "2010-01-01T00:00:00Z"}
    assert validate(models.Alliance, body(data), "/x").name == text


def test_bad_dates_and_bodies_are_malformed_with_a_short_reason() -> None:
    data = {"name": "a", "ticker": "T", "creator_id": 1, "creator_corporation_id": 2,
            "date_founded": "yesterday"}
    with pytest.raises(MalformedResponse):
        validate(models.Alliance, body(data), "/x")
    for raw in (b"<html>" + b"x" * 100_000, b"\xff\xfe", b"[" * 100_000):
        with pytest.raises(MalformedResponse) as caught:
            validate(models.Alliance, raw, "/x")
        assert len(str(caught.value)) < 300


def test_affiliation_fields_match_the_spec_and_are_strict(schemas: dict[str, Any]) -> None:
    schema = schemas["CharactersAffiliationPost_inner"]
    model = models.Affiliation
    assert set(model.model_fields) == set(schema["properties"])
    assert {f for f, info in model.model_fields.items() if info.is_required()} == set(schema["required"])
    example = schema["example"]
    [row] = validate(models.Affiliations, body([example]), "/x")
    assert row.character_id == example["character_id"]
    assert validate(models.Affiliations, b"[]", "/x") == []
    for bad in ({**example, "corporation_id": "1"}, {**example, "faction_id": 1.0},
                {k: v for k, v in example.items() if k != "corporation_id"}):
        with pytest.raises(MalformedResponse):
            validate(models.Affiliations, body([bad]), "/x")


def test_status_fields_match_the_spec_except_vip_which_the_reference_calls_optional(
        schemas: dict[str, Any]) -> None:
    schema = schemas["Status"]
    assert set(models.Status.model_fields) == set(schema["properties"])
    required = {f for f, info in models.Status.model_fields.items() if info.is_required()}
    assert required == set(schema["required"]) - {"vip"}
    got = validate(models.Status, body(schema["example"]), "/status")
    assert (got.players, got.vip) == (12345, True)
    for bad in ({**schema["example"], "start_time": "today"}, {**schema["example"], "vip": "no"}):
        with pytest.raises(MalformedResponse):
            validate(models.Status, body(bad), "/status")
