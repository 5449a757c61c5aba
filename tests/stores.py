"""Tests' way to a Store from an engine they already hold."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.store.interface import Store
from killreport.store.pg import postgres_store


def as_store(engine: AsyncEngine) -> Store:
    """The PostgreSQL Store on `engine` (its URL only names it in messages)."""
    return postgres_store(engine, engine.url.render_as_string(hide_password=True))
