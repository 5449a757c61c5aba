"""Table rows from validated ESI models: the model's own fields, flattened, plus one small rename map.

A nested model's fields become `<field>_<nested field>` columns (`palette.main_color` becomes
`palette_main_color`); `RENAMES` holds the few names that generic rule gets wrong. Date-times stay
strings in the models (exactly as ESI sent them) and are parsed here for the timestamp columns.
tests/unit/test_shapes.py checks that these columns are exactly the tables' non-bookkeeping ones.
"""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias, Union, cast, get_args, get_origin

from pydantic import BaseModel
from sqlalchemy import DateTime, Table

from killreport.domain.models import Alliance, Character, Corporation, Entity
from killreport.ids import Kind
from killreport.store.tables import ENTITY_TABLES

# The model each kind's job fetches and stores.
MODELS: Final[Mapping[Kind, type[Entity]]] = {
    "alliance": Alliance,
    "corporation": Corporation,
    "character": Character,
}
# Dotted model paths whose column is not the generic `_`-joined name (the schema says `tax_rate_`).
RENAMES: Final[Mapping[str, str]] = {
    "tax_rates.isk": "tax_rate_isk",
    "tax_rates.loyalty_point": "tax_rate_loyalty_point",
}

Value: TypeAlias = int | float | str | bool | dt.datetime | None
Row: TypeAlias = dict[str, Value]


@dataclass(frozen=True, slots=True)
class Source:
    """One column and the model field that feeds it: a path of field names (two when nested)."""

    column: str
    path: tuple[str, ...]
    is_date: bool


def sources(kind: Kind) -> tuple[Source, ...]:
    """Every column the model of `kind` feeds, in field order."""
    return _SOURCES[kind]


def kind_of(entity: Entity) -> Kind:
    """The kind whose job fetches this model."""
    return _KINDS[type(entity)]


def row_of(entity: Entity) -> Row:
    """The entity's table row, as far as its model feeds it (no key, no cache facts)."""
    return {s.column: _value(entity, s) for s in _SOURCES[_KINDS[type(entity)]]}


def _value(entity: BaseModel, source: Source) -> Value:
    value: object = entity
    for name in source.path:
        value = getattr(value, name)
        if value is None:  # an absent nested model (`palette`) leaves all its columns NULL
            return None
    if source.is_date and isinstance(value, str):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return cast(Value, value)


def _paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every leaf field of `model`, nested models followed."""
    paths: list[tuple[str, ...]] = []
    for name, info in model.model_fields.items():
        nested = _nested_model(info.annotation)
        paths += _paths(nested, (*prefix, name)) if nested else [(*prefix, name)]
    return paths


def _nested_model(annotation: object) -> type[BaseModel] | None:
    """The model a field holds (`Palette` for `Palette | None`), or None for a plain value."""
    optional = get_origin(annotation) in (Union, types.UnionType)
    for candidate in get_args(annotation) if optional else (annotation,):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _sources(model: type[BaseModel], table: Table) -> tuple[Source, ...]:
    # A column the table lacks is left for tests/unit/test_shapes.py to name; importing must work.
    out = []
    for path in _paths(model):
        column = RENAMES.get(".".join(path), "_".join(path))
        is_date = column in table.c and isinstance(table.c[column].type, DateTime)
        out.append(Source(column=column, path=path, is_date=is_date))
    return tuple(out)


_SOURCES: Final[Mapping[Kind, tuple[Source, ...]]] = {
    kind: _sources(model, ENTITY_TABLES[kind]) for kind, model in MODELS.items()
}
_KINDS: Final[Mapping[type[BaseModel], Kind]] = {model: kind for kind, model in MODELS.items()}
