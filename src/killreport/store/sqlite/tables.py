"""Tables only the embedded mode has: the job queue, its dead letters, and the ESI budget's state.

With no RabbitMQ, a queue is rows: a message is ready once `not_before` (epoch seconds) has passed
(a retry tier is a later `not_before`), and a dead letter is a row of `dead_letters`. The budget's
state (domain.budget_rules.State, as JSON) is one row the runner writes (budget/sqlite.py), for
`status` and the next runner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from sqlalchemy import CheckConstraint, Column, Float, Index, Integer, LargeBinary, MetaData, Table, Text

metadata = MetaData()

queue_messages = Table(
    "queue_messages",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("queue", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("not_before", Float, nullable=False),
    Index("queue_messages_ready", "queue", "not_before", "seq"),
    # AUTOINCREMENT: a seq is never reused after its row is deleted, so an ack or a replay that
    # deletes by seq can never hit a newer row (a purge then a publish would otherwise reuse seqs).
    sqlite_autoincrement=True,
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("body", LargeBinary, nullable=False),
    Column("kind", Text),
    Column("entity_id", Integer),
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("headers", Text, nullable=False),  # JSON object
    Column("dead_at", Float, nullable=False),
    sqlite_autoincrement=True,
)

esi_budget_state = Table(
    "esi_budget_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("state", Text, nullable=False),  # domain.budget_rules.State as JSON
    Column("updated_at", Float, nullable=False),  # when written: an old row is a stopped runner's
    CheckConstraint("id = 1", name="esi_budget_state_one_row"),
)

# Search's index on SQLite: per entity table, an FTS5 table of its name (and ticker) with the trigram
# tokenizer, its content read from the entity table (content=, no copy of the text) and kept in step
# by triggers (migration 0005): virtual tables, so not in the metadata above.
SEARCH: Final[Mapping[str, str]] = {
    "alliances": "alliances_search",
    "corporations": "corporations_search",
    "characters": "characters_search",
}

