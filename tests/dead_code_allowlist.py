"""Names vulture reports as unused that are used, by a framework or by design (tests/unit/test_dead_code.py).

Each group says why; a name that is merely used by tests does not belong here (delete the name).
"""

# mypy: ignore-errors
from __future__ import annotations

_ = object()

# pydantic and pydantic-settings read these: model configuration, validators, fields of ESI's schemas.
_.model_config
_._known_level
_._date_shape
_._database_url_shape
_._rabbitmq_url_shape
_._r2z2_url_shape
_._cap_groups_shape
_._cap_groups
_.isk
_.loyalty_point
_.main_color
_.secondary_color
_.tertiary_color
_.tax_rates
_.enlisted_faction_id
_.palette
_.security_status
_.character_title_id
_.server_version

# Fields of ESI's killmail and zKillboard's zkb block (domain/killmail.py): pydantic fills them from the
# feed; the store's killmail tables (not built yet) are their reader.
_.x
_.y
_.z
_.item_type_id
_.singleton
_.quantity_destroyed
_.quantity_dropped
_.damage_taken
_.ship_type_id
_.damage_done
_.final_blow
_.weapon_type_id
_.solar_system_id
_.moon_id
_.war_id
_.location_id
_.fitted_value
_.dropped_value
_.destroyed_value
_.total_value
_.points
_.attacker_count

# R2z2Client.raw_day: the killmails of a day, which the filling of recorded holes will read once the
# store keeps killmails; the feed's day files are part of the client's surface now.
_.raw_day

# domain/history.py's entry points (and EsiClient's two history routes, whose names the simulator shares):
# issue 24 builds the pure rules and the client first; the history fetch and the store's interval tables,
# built next, are their callers.
_.employment
_.membership

# Dataclass fields serialised with dataclasses.asdict for `status --json` and the web page.
_.reported_at
_.error_limit_remaining
_.error_limit_reset_at
_.route_groups

# cyclopts registers these through the @dlq.command decorator.
_.dlq_list
_.dlq_replay
_.dlq_purge
# cyclopts imports this one by its "module:function" name when it runs (cli/main.py), as the CLI
# starts without loading the scheduler.
_.refresh_cost

# Tables and declarations the schema test holds to the migrations (metadata is their user).
_.esi_request_log
_.scheduler_lease
_.scheduler_marks
_.BOOKKEEPING

# The test doubles and the simulator are tools shipped for tests (like dramatiq's StubBroker):
# their measuring and driving methods are called by tests by design.
_.advance
_.acked
_.windows_spent

# Migrations (not scanned: they are history) load the budget's SQL files through this, and create
# and drop the killmail tables through store/frozen/killmails_v1.py.
_.load
_.create
_.drop

# prometheus_client calls a registered collector's collect() at every scrape (metrics/names.py).
_.collect

# SQLAlchemy's TypeDecorator protocol (store/sqlite/types.py): the engine reads these.
_.impl
_.cache_ok
_.process_bind_param
_.process_result_value

# store/sqlite/driver.py stands where aiosqlite's Connection and Cursor stand under SQLAlchemy's
# adapter, which reads `_tx` and calls `fetchmany` (sqlalchemy/dialects/sqlite/aiosqlite.py), and
# `fetchone` on a streaming cursor (sqlalchemy/connectors/asyncio.py's AsyncIODBAPICursor).
_._tx
_.fetchmany
_.fetchone

# SQLAlchemy reads these: a construct's statement-cache flag, and the compilers `@compiles` registers
# for store/dialects.py's `bytewise`.
_.inherit_cache
_._bytewise_pg
_._bytewise_sqlite
