"""Search on SQLite as an index lookup: b-trees on the lower case of names (with the id) and tickers
(as PostgreSQL's 0013), and an FTS5 table per entity table with the trigram tokenizer for any part of
a name or ticker (what PostgreSQL's trigram GIN indexes do).

Each FTS5 table reads its text from the entity table (content=, content_rowid=: the text is not
stored twice) and is kept in step by triggers, so that every write, whatever path it takes (the
runner's statements, a bulk insert, the sqlite3 shell), updates it in the same transaction. The
triggers go with their table: a later migration that rebuilds an entity table (batch mode copies it)
has to make them again and 'rebuild' the index. The index is built for the rows already stored.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_CREATE = [
    "CREATE INDEX alliances_name_lower ON alliances (lower(name), id)",
    "CREATE INDEX alliances_ticker_lower ON alliances (lower(ticker))",
    "CREATE INDEX corporations_name_lower ON corporations (lower(name), id)",
    "CREATE INDEX corporations_ticker_lower ON corporations (lower(ticker))",
    "CREATE INDEX characters_name_lower ON characters (lower(name), id)",
]
_INDEXES = [("alliances", "name"), ("alliances", "ticker"), ("corporations", "name"),
            ("corporations", "ticker"), ("characters", "name")]
# The FTS5 tables (store/sqlite/tables.py SEARCH, as of now), their triggers, and their first build.
# An update that leaves the text as it was (a refresh, a sweep's move) costs the index nothing.
_SEARCH = [
    ("alliances_search", [
        "CREATE VIRTUAL TABLE alliances_search USING fts5(name, ticker, "
        "content='alliances', content_rowid='id', "
        "tokenize='trigram')",
        "CREATE TRIGGER alliances_search_insert AFTER INSERT ON alliances BEGIN "
        "INSERT INTO alliances_search (rowid, name, ticker) VALUES (new.id, new.name, new.ticker); END",
        "CREATE TRIGGER alliances_search_delete AFTER DELETE ON alliances BEGIN "
        "INSERT INTO alliances_search (alliances_search, rowid, name, ticker) "
        "VALUES ('delete', old.id, old.name, old.ticker); END",
        "CREATE TRIGGER alliances_search_update AFTER UPDATE OF id, name, ticker ON alliances "
        "WHEN old.id IS NOT new.id OR old.name IS NOT new.name OR old.ticker IS NOT new.ticker BEGIN "
        "INSERT INTO alliances_search (alliances_search, rowid, name, ticker) "
        "VALUES ('delete', old.id, old.name, old.ticker); "
        "INSERT INTO alliances_search (rowid, name, ticker) VALUES (new.id, new.name, new.ticker); END",
        "INSERT INTO alliances_search (alliances_search) VALUES ('rebuild')",
    ]),
    ("corporations_search", [
        "CREATE VIRTUAL TABLE corporations_search USING fts5(name, ticker, "
        "content='corporations', content_rowid='id', "
        "tokenize='trigram')",
        "CREATE TRIGGER corporations_search_insert AFTER INSERT ON corporations BEGIN "
        "INSERT INTO corporations_search (rowid, name, ticker) VALUES (new.id, new.name, new.ticker); END",
        "CREATE TRIGGER corporations_search_delete AFTER DELETE ON corporations BEGIN "
        "INSERT INTO corporations_search (corporations_search, rowid, name, ticker) "
        "VALUES ('delete', old.id, old.name, old.ticker); END",
        "CREATE TRIGGER corporations_search_update AFTER UPDATE OF id, name, ticker ON corporations "
        "WHEN old.id IS NOT new.id OR old.name IS NOT new.name OR old.ticker IS NOT new.ticker BEGIN "
        "INSERT INTO corporations_search (corporations_search, rowid, name, ticker) "
        "VALUES ('delete', old.id, old.name, old.ticker); "
        "INSERT INTO corporations_search (rowid, name, ticker) VALUES (new.id, new.name, new.ticker); END",
        "INSERT INTO corporations_search (corporations_search) VALUES ('rebuild')",
    ]),
    ("characters_search", [
        "CREATE VIRTUAL TABLE characters_search USING fts5(name, content='characters', content_rowid='id', "
        "tokenize='trigram')",
        "CREATE TRIGGER characters_search_insert AFTER INSERT ON characters BEGIN "
        "INSERT INTO characters_search (rowid, name) VALUES (new.id, new.name); END",
        "CREATE TRIGGER characters_search_delete AFTER DELETE ON characters BEGIN "
        "INSERT INTO characters_search (characters_search, rowid, name) "
        "VALUES ('delete', old.id, old.name); END",
        "CREATE TRIGGER characters_search_update AFTER UPDATE OF id, name ON characters "
        "WHEN old.id IS NOT new.id OR old.name IS NOT new.name BEGIN "
        "INSERT INTO characters_search (characters_search, rowid, name) VALUES ('delete', old.id, old.name); "
        "INSERT INTO characters_search (rowid, name) VALUES (new.id, new.name); END",
        "INSERT INTO characters_search (characters_search) VALUES ('rebuild')",
    ]),
]
_DROP_TRIGGERS = [
    "DROP TRIGGER alliances_search_insert", "DROP TRIGGER alliances_search_delete",
    "DROP TRIGGER alliances_search_update", "DROP TRIGGER corporations_search_insert",
    "DROP TRIGGER corporations_search_delete", "DROP TRIGGER corporations_search_update",
    "DROP TRIGGER characters_search_insert", "DROP TRIGGER characters_search_delete",
    "DROP TRIGGER characters_search_update",
]


def upgrade() -> None:
    """Apply."""
    for statement in _CREATE:
        op.execute(statement)
    for _, statements in _SEARCH:
        for statement in statements:
            op.execute(statement)


def downgrade() -> None:
    """Revert to 0004 (an FTS5 table drops its own tables with it)."""
    for statement in _DROP_TRIGGERS:
        op.execute(statement)
    for index, _ in _SEARCH:
        op.drop_table(index)
    for table, column in _INDEXES:
        op.drop_index(f"{table}_{column}_lower", table)
