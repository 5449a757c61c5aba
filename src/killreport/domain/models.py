"""The pinned 2026-08-18 schemas of the routes we store, as strict pydantic models.

Strict: an id must be a JSON int64 (not "123", not true, not 1.0); unknown extra fields are ignored
so a new optional field from CCP does not stop the sync. Strings are kept exactly as sent (no
stripping or normalising); date-times stay strings, checked against RFC 3339's shape, and are parsed
when stored. esi/validate.py parses answers against them.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictStr, TypeAdapter

# int64 as the schema says; strict: a JSON integer, never "123", true or 1.0.
Id = Annotated[int, Field(strict=True, ge=-(2**63), le=2**63 - 1)]
# JSON numbers: ints are accepted for `number` fields, strings, bools and NaN/Infinity are not.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, allow_inf_nan=False)


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


# The detail of any entity kind: what one job fetches and stores.
Entity: TypeAlias = Alliance | Corporation | Character


class Affiliation(_Model):
    """One row of POST /characters/affiliation: where a character is now."""

    character_id: Id
    corporation_id: Id
    alliance_id: Id | None = None
    faction_id: Id | None = None


class Status(_Model):
    """GET /status: the cluster's state.

    `vip` is optional as esi-reference.md says (`vip?`), although the 2026-08-18 spec lists it as
    required: a missing flag must not stop a client that only waits for downtime to end.
    """

    players: Id
    server_version: StrictStr
    start_time: StrictStr = _DATE
    vip: StrictBool | None = None


class CorporationHistoryRecord(_Model):
    """One row of GET /characters/{character_id}/corporationhistory: a corporation joined then.

    ESI records no move to Doomheim: a deleted character's last row is the corporation it was in.
    """

    record_id: Id  # orders rows whose start dates tie
    start_date: StrictStr = _DATE
    corporation_id: Id
    is_deleted: StrictBool | None = None  # the corporation has closed


class AllianceHistoryRecord(_Model):
    """One row of GET /corporations/{corporation_id}/alliancehistory: an alliance joined then, or none
    (no `alliance_id`: a period outside any alliance)."""

    record_id: Id  # orders rows whose start dates tie
    start_date: StrictStr = _DATE
    alliance_id: Id | None = None
    is_deleted: StrictBool | None = None  # the alliance has closed


def _unique(ids: list[int]) -> list[int]:
    # The schema promises uniqueItems; a repeated id means the list cannot be trusted.
    if len(set(ids)) != len(ids):
        raise ValueError("ids are not unique")
    return ids


IdList: TypeAdapter[list[int]] = TypeAdapter(Annotated[list[Id], AfterValidator(_unique)])
Affiliations: TypeAdapter[list[Affiliation]] = TypeAdapter(list[Affiliation])
CorporationHistory: TypeAdapter[list[CorporationHistoryRecord]] = TypeAdapter(list[CorporationHistoryRecord])
AllianceHistory: TypeAdapter[list[AllianceHistoryRecord]] = TypeAdapter(list[AllianceHistoryRecord])
