"""LookupQueries on PostgreSQL (store/lookup.py)."""

from killreport.store.lookup import (
    alliance,
    alliance_members,
    changes_page,
    character,
    corporation,
    corporation_characters,
    latest_changes,
    names,
    request_rate,
    search,
)

__all__ = [
    "alliance", "alliance_members", "changes_page", "character", "corporation", "corporation_characters",
    "latest_changes", "names", "request_rate", "search",
]
