"""Rows from validated models: flattened, renamed, dates parsed, strings untouched."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from killreport.domain import models
from killreport.esi.validate import validate
from killreport.ids import Kind
from killreport.store import rows

# CCP's schema subset, kept in the repository (tests/data) so a clone anywhere is whole.
SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "esi-openapi-subset.json"
EXAMPLES: dict[Kind, str] = {
    "alliance": "AllianceDetail", "corporation": "CorporationsDetail", "character": "CharactersDetail"}
FOUNDED = dt.datetime(2000, 1, 23, 4, 56, 7, tzinfo=dt.UTC)
CORPORATION: dict[str, Any] = {
    "name": "C", "ticker": "C", "member_count": 3, "description": "", "friendly_fire": "legal",
    "home_station_id": 60000001, "shares": 1, "state": "active", "type": "player_owned",
    "war_eligible": True, "tax_rates": {"isk": 0.1, "loyalty_point": 0.5}}


@pytest.fixture(scope="module")
def examples() -> dict[Kind, Any]:
    if not SPEC_PATH.exists():
        pytest.fail(f"{SPEC_PATH} not present")
    schemas = json.loads(SPEC_PATH.read_text())["components"]["schemas"]
    return {kind: schemas[name]["example"] for kind, name in EXAMPLES.items()}


def corporation(**more: Any) -> models.Corporation:
    return validate(models.Corporation, json.dumps({**CORPORATION, **more}).encode(), "/x")


def example_of(examples: dict[Kind, Any], kind: Kind) -> models.Entity:
    return cast(models.Entity, validate(rows.MODELS[kind], json.dumps(examples[kind]).encode(), "/x"))


@pytest.mark.parametrize("kind", EXAMPLES)
def test_plain_fields_are_columns_of_the_same_name_and_value(examples: dict[Kind, Any], kind: Kind) -> None:
    example = examples[kind]
    row = rows.row_of(example_of(examples, kind))
    dates = {"date_founded", "birthday"}
    plain = {k: v for k, v in example.items() if not isinstance(v, dict) and k not in dates}
    assert {k: row[k] for k in plain} == plain
    assert [row[k] for k in dates & set(example)] == [FOUNDED]


def test_nested_fields_are_flattened_and_tax_rates_renamed(examples: dict[Kind, Any]) -> None:
    row = rows.row_of(example_of(examples, "corporation"))
    assert (row["tax_rate_isk"], row["tax_rate_loyalty_point"]) == (10, 5.6)
    assert [row[f"palette_{p}_color"] for p in ("main", "secondary", "tertiary")] == [
        "main_color", "secondary_color", "tertiary_color"]
    assert not {"tax_rates", "palette", "tax_rates_isk"} & set(row)


def test_absent_optional_fields_and_models_are_null() -> None:
    row = rows.row_of(corporation(palette={"main_color": "#fff"}))
    assert row["palette_main_color"] == "#fff"
    assert row["palette_secondary_color"] is None and row["alliance_id"] is None
    bare = rows.row_of(corporation())
    assert [bare[f"palette_{p}_color"] for p in ("main", "secondary", "tertiary")] == [None] * 3
    assert bare["date_founded"] is None
    assert set(bare) == {s.column for s in rows.sources("corporation")}


def test_dates_keep_their_offset_and_fraction() -> None:
    row = rows.row_of(corporation(date_founded="2010-01-02T03:04:05.25+02:00"))
    assert row["date_founded"] == dt.datetime(2010, 1, 2, 1, 4, 5, 250000, tzinfo=dt.UTC)
    assert row["date_founded"].utcoffset() == dt.timedelta(hours=2)  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", EXAMPLES)
def test_kind_of_names_each_model(examples: dict[Kind, Any], kind: Kind) -> None:
    assert rows.kind_of(example_of(examples, kind)) == kind


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_strings_reach_the_row_byte_for_byte(text: str) -> None:
    row = rows.row_of(corporation(name=text, description=text, url=text, palette={"main_color": text}))
    assert [row[c] for c in ("name", "description", "url", "palette_main_color")] == [text] * 4
