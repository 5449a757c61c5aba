"""The killmail models hold to CCP's schema (tests/data) like the entity models do, zkb and the package
to the feed's documented shape, and a package whose killmail fails is kept aside with a reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from killreport.domain import killmail as km
from killreport.domain.killmail import Killmail, Package, Rejected
from killreport.r2z2 import classify
from killreport.r2z2.errors import MalformedBody
from tests.unit.test_esi_models import SPEC_PATH

PREFIX = "KillmailsKillmailIdKillmailHashGet"
MODELS: dict[str, type[BaseModel]] = {
    PREFIX: km.Killmail, f"{PREFIX}_attackers_inner": km.Attacker, f"{PREFIX}_victim": km.Victim,
    f"{PREFIX}_victim_position": km.Position, f"{PREFIX}_victim_items_inner": km.Item,
    f"{PREFIX}_victim_items_inner_items_inner": km.ContainedItem}
ZKB = {"locationID": 40000001, "hash": "ab" * 20, "fittedValue": 10.5, "droppedValue": 0,
       "destroyedValue": 20.25, "totalValue": 20.25, "points": 7, "npc": False, "solo": True, "awox": False,
       "labels": ["cat:6", "solo"], "href": "https://esi.evetech.net/v1/killmails/1/x/"}


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    return dict(json.loads(SPEC_PATH.read_text())["components"]["schemas"])


def example(schemas: dict[str, Any]) -> dict[str, Any]:
    return dict(schemas[PREFIX]["example"])


def package_body(esi: dict[str, Any], **extra: Any) -> bytes:
    data = {"killmail_id": esi["killmail_id"], "hash": "ab" * 20, "esi": esi, "zkb": ZKB,
            "uploaded_at": 1_765_000_000, "sequence_id": 1_000_000, **extra}
    return json.dumps(data).encode()


@pytest.mark.parametrize("name", MODELS)
def test_fields_required_and_optional_match_the_spec(schemas: dict[str, Any], name: str) -> None:
    schema, model = schemas[name], MODELS[name]
    adapter = TypeAdapter(model)
    assert {f for f, info in model.model_fields.items() if info.is_required()} == set(schema["required"])
    assert set(model.model_fields) == set(schema["properties"])
    adapter.validate_json(json.dumps(schema["example"]), strict=True)
    for field in schema["properties"]:
        trimmed = json.dumps({k: v for k, v in schema["example"].items() if k != field})
        if field in schema["required"]:
            with pytest.raises(MalformedBody, match=field):
                classify.read(adapter, trimmed.encode(), "/x")
        else:
            adapter.validate_json(trimmed, strict=True)


def test_items_are_kept_whole_nested_items_included(schemas: dict[str, Any]) -> None:
    got = TypeAdapter(Killmail).validate_json(json.dumps(example(schemas)), strict=True)
    assert got.victim.items is not None and got.victim.items[0].items is not None
    assert got.victim.items[0].items[1].item_type_id == 5 and got.moon_id == 2 and got.war_id == 6
    assert got.killmail_time == "2000-01-23 04:56:07+00:00"


@pytest.mark.parametrize(("where", "bad"), [("killmail_id", "3"), ("solar_system_id", 4.0),
                                            ("killmail_time", "yesterday"), ("attackers", {})])
def test_ids_are_strict_and_a_failure_names_where(schemas: dict[str, Any], where: str, bad: Any) -> None:
    with pytest.raises(MalformedBody, match=where):
        classify.read(TypeAdapter(Killmail), json.dumps({**example(schemas), where: bad}).encode(), "/x")


def test_zkb_reads_the_feed_s_names_and_attacker_count_is_optional() -> None:
    got = TypeAdapter(km.Zkb).validate_json(json.dumps({**ZKB, "attackerCount": 3}), strict=True)
    assert got.location_id == 40000001 and got.dropped_value == 0.0 and got.attacker_count == 3
    assert TypeAdapter(km.Zkb).validate_json(json.dumps(ZKB), strict=True).attacker_count is None
    with pytest.raises(ValueError, match="npc"):
        TypeAdapter(km.Zkb).validate_json(json.dumps({**ZKB, "npc": "false"}), strict=True)


def test_a_package_reads_with_its_optional_sequence_updated(schemas: dict[str, Any]) -> None:
    got = classify.package(package_body(example(schemas), sequence_updated=999_999), "/1000000.json")
    assert isinstance(got, Package) and got.sequence_updated == 999_999 and got.zkb.points == 7
    plain = classify.package(package_body(example(schemas)), "/1000000.json")
    assert isinstance(plain, Package) and plain.sequence_updated is None


@pytest.mark.parametrize(("change", "why"), [
    ({"victim": {"ship_type_id": 1}}, "victim.damage_taken"),
    ({"attackers": [{"damage_done": "1", "final_blow": True, "security_status": 0}]},
     "attackers.0.damage_done"),
    ({"killmail_id": 4}, "esi.killmail_id 4 is not the package's 3"),
])
def test_a_package_whose_killmail_fails_is_rejected_with_the_reason(
        schemas: dict[str, Any], change: dict[str, Any], why: str) -> None:
    esi = {**example(schemas), **change}
    body = package_body(esi) if "killmail_id" not in change else package_body(example(schemas) | change,
                                                                               killmail_id=3)
    got = classify.package(body, "/1000000.json")
    assert isinstance(got, Rejected) and why in got.reason and got.body == body
    assert (got.sequence_id, got.killmail_id, got.hash) == (1_000_000, 3, "ab" * 20)


def test_a_package_with_a_broken_zkb_is_rejected_too(schemas: dict[str, Any]) -> None:
    body = json.dumps({**json.loads(package_body(example(schemas))), "zkb": {"hash": 1}}).encode()
    got = classify.package(body, "/x")
    assert isinstance(got, Rejected) and got.reason.startswith("schema mismatch at zkb.")


@pytest.mark.parametrize("body", [b"", b"<html>", b'{"killmail_id": 1', b"[]",
                                  b'{"killmail_id": "1", "hash": "h", "sequence_id": 1, "uploaded_at": 1}'])
def test_a_package_without_readable_numbers_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedBody) as caught:
        classify.package(body, "/1.json")
    assert len(str(caught.value)) < 300
