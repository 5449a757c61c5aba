"""One shape per entity: every model field has a column, every column a model field or a bookkeeping role.

No database: the models (domain/models.py), the row builder (store/rows.py) and the tables
(store/tables.py) are compared as code. tests/integration/test_shapes_schema.py compares the tables
with what the migrations make.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from typing import Annotated, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel
from sqlalchemy import Column

from killreport.domain import models
from killreport.ids import KINDS, Kind
from killreport.store import references, rows
from killreport.store import tables as t
from killreport.store.facts import CacheFacts


def _is_optional(annotation: object) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


def _python_type(annotation: object) -> object:
    """`int` for `Id | None`, `str` for `Literal["a", "b"]`: the plain type a value has."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return type(args[0])
    if origin is Annotated:
        return _python_type(args[0])
    if origin in (Union, types.UnionType):
        [plain] = [a for a in args if a is not type(None)]
        return _python_type(plain)
    return annotation


def _leaf(model: type[BaseModel], path: tuple[str, ...]) -> tuple[object, bool]:
    """The annotation at `path` and whether a None can reach it (the field or a model above it)."""
    optional, annotation = False, None
    for name in path:
        annotation = model.model_fields[name].annotation
        optional = optional or _is_optional(annotation)
        nested = _python_type(annotation)
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            model = nested
    return annotation, optional


def _column(kind: Kind, name: str) -> Column[object]:
    return t.ENTITY_TABLES[kind].c[name]


@pytest.mark.parametrize("kind", KINDS)
def test_every_model_field_has_a_column(kind: Kind) -> None:
    fed = [s.column for s in rows.sources(kind)]
    assert len(fed) == len(set(fed)), "two model fields flatten to one column"
    assert sorted(set(fed) - set(t.ENTITY_TABLES[kind].c.keys())) == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_column_is_fed_by_the_model_or_is_bookkeeping(kind: Kind) -> None:
    columns, fed = set(t.ENTITY_TABLES[kind].c.keys()), {s.column for s in rows.sources(kind)}
    assert sorted(columns - fed - t.BOOKKEEPING[kind]) == [], "columns nothing feeds"
    assert sorted(t.BOOKKEEPING[kind] - columns) == [], "bookkeeping columns the table lacks"
    assert sorted(t.BOOKKEEPING[kind] & fed) == [], "bookkeeping columns a model field feeds"


@pytest.mark.parametrize("kind", KINDS)
def test_column_types_and_nullability_follow_the_model(kind: Kind) -> None:
    for source in rows.sources(kind):
        annotation, optional = _leaf(rows.MODELS[kind], source.path)
        column = _column(kind, source.column)
        assert column.nullable == optional, source.column
        got, want = _python_type(annotation), column.type.python_type
        # Date-times are strings in the models (as ESI sent them), parsed for timestamp columns.
        assert got is want or (got is str and want is dt.datetime and source.is_date), source.column
        assert source.is_date == (want is dt.datetime), source.column


@pytest.mark.parametrize("kind", KINDS)
def test_cache_facts_are_the_bookkeeping_columns(kind: Kind) -> None:
    facts = CacheFacts(fetched_at=dt.datetime.now(dt.UTC), expires_at=None, etag=None, last_modified=None)
    prefixes = ("", t.MEMBERS_PREFIX) if kind == "alliance" else ("", t.HISTORY_PREFIX)
    # A closed alliance is marked by the scheduler, a wanted history by a job or a sweep: no answer.
    # The refresh policy's marks: a kill's sighting of a corporation, a move of a character seen.
    policy = {"corporation": {t.SEEN_ON_KILL_AT}, "character": {t.DETAIL_WANTED}}.get(kind, set())
    marks = {"closed_at"} if kind == "alliance" else {f"{t.HISTORY_PREFIX}wanted", *policy}
    assert {"id", *(c for p in prefixes for c in facts.columns(p)), *marks} == t.BOOKKEEPING[kind]


@pytest.mark.parametrize(("kind", "cls"), [("alliance", references.AllianceReferences),
                                           ("corporation", references.CorporationReferences)])
def test_references_read_columns_of_their_type(kind: Kind, cls: type[references.References]) -> None:
    hints = typing.get_type_hints(cls)
    assert [c.name for c in references.columns(kind)] == [f.name for f in dataclasses.fields(cls)]
    for column in references.columns(kind):
        assert _python_type(hints[column.name]) is column.type.python_type is int, column.name
        assert column.nullable == _is_optional(hints[column.name]), column.name


def test_renames_name_real_nested_fields() -> None:
    # A rename whose path no model has any more would silently do nothing.
    paths = {".".join(s.path) for kind in KINDS for s in rows.sources(kind)}
    assert sorted(set(rows.RENAMES) - paths) == []


def test_every_kind_has_its_model() -> None:
    assert set(rows.MODELS) == set(KINDS) == set(t.ENTITY_TABLES)
    assert set(typing.get_args(models.Entity)) == set(rows.MODELS.values())
    assert references.columns("character") == []
