"""The pinned 2026-08-18 schemas of the routes we store, as strict pydantic models.

Strict: an id must be a JSON integer (not "123", not true); unknown extra fields are ignored so a
new optional field from CCP does not stop the sync. Date-times stay strings exactly as sent and
are parsed when stored.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, TypeAdapter
from pydantic import ValidationError as _ValidationError

from killreport.esi.errors import MalformedResponse

Id = StrictInt
Number = float  # JSON numbers: ints are accepted for `number` fields, strings are not (strict).


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)



_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
_DATE = Field(pattern=_DATE_PATTERN)
_OPTIONAL_DATE = Field(default=None, pattern=_DATE_PATTERN)


class Alliance(_Model):
    """GET /alliances/{alliance_id}."""

    name: StrictStr
    ticker: StrictStr
    creator_id: Id
    creator_corporation_id: Id
    date_founded: StrictStr = _DATE
    executor_corporation_id: Id | None = None
    faction_id: Id | None = None


class TaxRates(_Model):
    """Corporation tax rates (2026-07-21 schema)."""

    isk: Number
    loyalty_point: Number


class Palette(_Model):
    """Corporation colours."""

    main_color: StrictStr
    secondary_color: StrictStr | None = None
    tertiary_color: StrictStr | None = None


class Corporation(_Model):
    """GET /corporations/{corporation_id}."""

    name: StrictStr
    ticker: StrictStr
    member_count: Id
    description: StrictStr
    friendly_fire: Literal["legal", "illegal"]
    home_station_id: Id
    shares: Id
    state: Literal["active", "closed"]
    tax_rates: TaxRates
    type: Literal["player_owned", "npc_owned"]
    war_eligible: StrictBool
    alliance_id: Id | None = None
    ceo_id: Id | None = None
    creator_id: Id | None = None
    date_founded: StrictStr | None = _OPTIONAL_DATE
    enlisted_faction_id: Id | None = None
    palette: Palette | None = None
    url: StrictStr | None = None


class Character(_Model):
    """GET /characters/{character_id}."""

    name: StrictStr
    birthday: StrictStr = _DATE
    bloodline_id: Id
    race_id: Id
    corporation_id: Id
    gender: Literal["male", "female"]
    achievement_score: Id
    alliance_id: Id | None = None
    faction_id: Id | None = None
    description: StrictStr | None = None
    security_status: Number | None = None
    corporation_title: StrictStr | None = None
    character_title_id: StrictStr | None = None


IdList = TypeAdapter(list[StrictInt])
T = TypeVar("T")


def validate(adapter: TypeAdapter[T] | type[Any], data: Any, path: str) -> Any:
    """Validate parsed JSON against a model or adapter, or raise MalformedResponse with a short reason."""
    try:
        if isinstance(adapter, TypeAdapter):
            return adapter.validate_python(data)
        return adapter.model_validate(data)
    except _ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise MalformedResponse(f"schema mismatch at {where}: {first['msg']}", status=200,
                                path=path) from None
