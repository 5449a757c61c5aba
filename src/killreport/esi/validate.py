"""Parsing an answer's body against a pinned schema (domain/models.py), failing as MalformedResponse."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from pydantic import TypeAdapter
from pydantic import ValidationError as _ValidationError

from killreport.esi.errors import MalformedResponse

T = TypeVar("T")


def _adapter_for(model: type[T]) -> TypeAdapter[T]:
    # Building an adapter compiles a validator: do it once per model class.
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    return cast(TypeAdapter[T], adapter)


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def validate(schema: TypeAdapter[T] | type[T], body: bytes, path: str) -> T:
    """Parse and validate a JSON body, or raise MalformedResponse with a short reason (never the body)."""
    try:
        adapter = schema if isinstance(schema, TypeAdapter) else _adapter_for(schema)
        return adapter.validate_json(body, strict=True)
    except _ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])[:80] or "body"
        raise MalformedResponse(f"schema mismatch at {where}: {first['msg'][:120]}", status=200,
                                path=path) from None
    except (ValueError, RecursionError) as exc:
        raise MalformedResponse(f"unreadable body: {type(exc).__name__}", status=200, path=path) from None
