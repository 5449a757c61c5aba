"""JobQueries on PostgreSQL: the hot path's statements (store/entities.py, pending.py, ...)."""

from killreport.store.entities import (
    claim_and_read,
    defer,
    record_failure,
    replace_members,
    revalidate,
    revalidate_and_finish,
    store,
    store_and_finish,
    tombstone,
)
from killreport.store.http_cache import fetch_lock, fresh_ids, put_ids
from killreport.store.pending import (
    add,
    among,
    finish,
    forget_unclaimed,
    mark_published,
    release,
    unpublished,
)
from killreport.store.references import referenced_ids

__all__ = [
    "add", "among", "claim_and_read", "defer", "fetch_lock", "finish", "forget_unclaimed", "fresh_ids",
    "mark_published", "put_ids", "record_failure", "referenced_ids", "release", "replace_members",
    "revalidate", "revalidate_and_finish", "store", "store_and_finish", "tombstone", "unpublished",
]
