"""What changed: the pure comparison of a stored copy with a new answer, as `changes` rows.

A change is named by the copy's own column (`alliance_id`, `name`, `tax_rate_isk`) or by one of a
few fields that are not columns: `corporations` (an alliance's member list), `closed` (an alliance
left GET /alliances), `deleted` (a character was biomassed). Values are JSON-ready: datetimes as
ISO 8601 strings, lists sorted. A first sighting is not a change: nothing is compared with nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from killreport.ids import Kind

Json: TypeAlias = int | float | str | bool | list[int] | None


@dataclass(frozen=True, slots=True)
class Change:
    """One field of one entity that an answer showed different from the copy."""

    kind: Kind
    entity_id: int
    field: str
    old: Json
    new: Json


def json_value(value: object) -> Json:
    """A column value as the changes table stores it."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, list | tuple | set | frozenset):
        return sorted(int(v) for v in value)
    if value is None or isinstance(value, int | float | str | bool):
        return value
    raise TypeError(f"not a column value: {type(value).__name__}")


def diff(kind: Kind, entity_id: int, old: Mapping[str, object] | None,
         new: Mapping[str, object]) -> list[Change]:
    """The fields of `new` whose value differs from `old` (nothing when nothing was stored)."""
    if old is None:
        return []
    changed = []
    for field in sorted(new):
        before, after = json_value(old.get(field)), json_value(new[field])
        if before != after:
            changed.append(Change(kind, entity_id, field, before, after))
    return changed


def members_change(alliance_id: int, old: Iterable[int] | None, new: Iterable[int]) -> list[Change]:
    """An alliance's member list as one change, when it differs from the stored one."""
    if old is None:
        return []
    before, after = sorted(set(old)), sorted(set(new))
    return [] if before == after else [Change("alliance", alliance_id, "corporations", before, after)]
