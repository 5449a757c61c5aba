"""Every SQL statement of killreport, one module per concern, on SQLAlchemy Core. The modules here
answer on both dialects, each statement written once with the differences named in dialects.py;
sqlite/ holds what only the SQLite file has (its driver, queue, budget row, the web's search), and
interface.py is the seam both stores implement.

    interface    the Store: every question asked of a database, four query groups
    postgres     the Store on PostgreSQL: jobs, schedule, lookup and admin below
    jobs         a job's questions on both dialects: the statements once, composed as each allows
    schedule     the scheduler's questions on both dialects (the lock each keeps named in one place)
    dialects     what the two dialects say differently (clock, id lists, ON CONFLICT insert, ...)
    admin        counts, freshness, request counts, changes, the budget snapshot (both dialects)
    copy         `killreport copy`: a SQLite file's rows into an empty PostgreSQL database

    tables       the schema as Core tables (migrations/ builds it; a test holds the two equal)
    entities     the job's building blocks: upserts, members, tombstones, failures, the read
    pending      the pending set (dedup, claims, unpublished rows)
    rows, facts, references, http_cache   answers to rows, cache facts, what rows name, list caches
    changes, freshness, lookup            the changes table, how fresh, the web's
    request_counts, budget, sql/          requests by route and status, the budget's SQL
    raw                                   statements on asyncpg's connection, errors as SQLAlchemy's
    migrate                               Alembic upgrade with the packaged migrations
"""

__all__ = [
    "admin", "budget", "changes", "dialects", "entities", "facts", "freshness", "http_cache", "jobs",
    "lookup", "migrate", "pending", "postgres", "raw", "references", "request_counts", "rows", "schedule",
    "tables",
]
